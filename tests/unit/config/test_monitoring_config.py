"""The monitor / alerts / triggers / agent sections and the duration format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from conveyor.config._monitoring import (
    AlertSinkConfig,
    MonitorConfig,
    TriggerConfig,
    parse_duration,
)
from conveyor.config.models import ConveyorConfig

BASE = {
    "project": "p",
    "task": "binary",
    "target": "y",
    "data": {"sources": [{"name": "d", "path": "d.csv"}]},
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("15m", 900.0), ("2h", 7200.0), ("7d", 604800.0), ("1w", 604800.0),
     (" 1.5h ", 5400.0)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "7days", "-1d", "0s", "1y", "1 d 2h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from("smhdw"))
def test_parse_duration_round_trip(n: int, unit: str) -> None:
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    assert parse_duration(f"{n}{unit}") == n * factor


def test_defaults_keep_old_configs_valid() -> None:
    cfg = ConveyorConfig.model_validate(BASE)
    assert cfg.monitor.window == "7d"
    assert cfg.triggers == []
    assert [s.type for s in cfg.alerts.sinks] == ["log"]


def test_monitor_window_must_be_a_duration() -> None:
    with pytest.raises(ValidationError, match="not a duration"):
        MonitorConfig(window="a week")


def test_trigger_needs_a_condition_or_schedule() -> None:
    with pytest.raises(ValidationError, match="needs 'when', 'schedule' or both"):
        TriggerConfig(name="t", action="retrain")


def test_trigger_names_unique() -> None:
    trig = {"when": "drift.share > 0.3", "action": "alert"}
    with pytest.raises(ValidationError, match="trigger names must be unique"):
        ConveyorConfig.model_validate(
            {**BASE, "triggers": [{"name": "a", **trig}, {"name": "a", **trig}]}
        )


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ({"type": "webhook"}, "needs 'url'"),
        ({"type": "webhook", "url": "ftp://x"}, "must start with http"),
        ({"type": "command"}, "needs 'command'"),
        ({"type": "pager"}, "type"),
        ({"type": "webhook", "url": "https://x", "format": "teams"}, "format"),
    ],
)
def test_alert_sink_fields(sink: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertSinkConfig.model_validate(sink)


def test_webhook_format_defaults_to_slack() -> None:
    sink = AlertSinkConfig.model_validate({"type": "webhook", "url": "https://hooks.example.org/x"})
    assert sink.format == "slack"
    assert AlertSinkConfig(type="webhook", url="https://x", format="json").format == "json"


def test_drift_missing_rate_threshold() -> None:
    from conveyor.config._monitoring import DriftConfig

    assert DriftConfig().missing_rate_threshold == 0.05
    assert DriftConfig(missing_rate_threshold=0.2).missing_rate_threshold == 0.2
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValidationError, match="missing_rate_threshold"):
            DriftConfig(missing_rate_threshold=bad)
