"""Evaluating triggers once: fired, quiet, not enough data, cooldown, schedules (injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conveyor.automate import compile_triggers, evaluate_triggers
from conveyor.automate.evaluation import format_elapsed, format_seconds
from conveyor.config._monitoring import TriggerConfig

T0 = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)


def triggers(*configs: dict) -> list:
    return compile_triggers([TriggerConfig(**c) for c in configs], default_cooldown="1h")


class Provider:
    """Metric snapshots by window, counting the calls."""

    def __init__(self, values: dict, by_window: dict | None = None) -> None:
        self.values = values
        self.by_window = by_window or {}
        self.calls: list[float | None] = []

    def __call__(self, window: float | None) -> dict:
        self.calls.append(window)
        return self.by_window.get(window, self.values)


def one(trigger_list: list, provider: Provider, **state) -> object:
    state.setdefault("last_fired", {})
    state.setdefault("last_checked", {})
    state.setdefault("now", T0)
    (result,) = evaluate_triggers(trigger_list, provider, **state)
    return result


def test_fired_quiet_and_not_enough_data() -> None:
    t = triggers({"name": "drop", "when": "performance.accuracy < 0.92 over 7d",
                  "action": "retrain"})  # fmt: skip
    fired = one(t, Provider({"performance.accuracy": 0.85}))
    assert fired.status == "fired" and fired.fired
    assert fired.values == {"performance.accuracy": 0.85}
    assert fired.window_s == 7 * 86400
    assert "performance.accuracy 0.85" in fired.reason
    quiet = one(t, Provider({"performance.accuracy": 0.95}))
    assert quiet.status == "quiet" and not quiet.fired
    thin = one(t, Provider({"performance.accuracy": None}))
    assert thin.status == "not_enough_data"
    assert thin.missing == ("performance.accuracy",)
    assert thin.reason == "not enough data for performance.accuracy over 7d"
    evidence = fired.evidence()
    assert evidence["window"] == "7d" and evidence["condition"].startswith("performance.accuracy")


def test_one_snapshot_per_window() -> None:
    t = triggers(
        {"name": "a", "when": "drift.share > 0.3", "action": "alert"},
        {"name": "b", "when": "errors.rate > 0.1", "action": "alert"},
        {"name": "c", "when": "performance.f1 < 0.5 over 1d", "action": "retrain"},
    )
    provider = Provider({"drift.share": 0.4, "errors.rate": 0.0},
                        by_window={86400.0: {"performance.f1": 0.4}})  # fmt: skip
    results = evaluate_triggers(t, provider, now=T0, last_fired={}, last_checked={})
    assert [r.status for r in results] == ["fired", "quiet", "fired"]
    assert sorted(provider.calls, key=str) == [86400.0, None]


def test_cooldown_keeps_a_true_condition_quiet_until_it_passes() -> None:
    t = triggers({"name": "drift", "when": "drift.share > 0.3", "action": "alert",
                  "cooldown": "30m"})  # fmt: skip
    provider = Provider({"drift.share": 0.5})
    fired_at = T0 - timedelta(minutes=10)
    cooling = one(t, provider, last_fired={"drift": fired_at})
    assert cooling.status == "cooldown" and not cooling.fired
    assert "fired 10m ago, quiet for 30m (cooldown)" in cooling.reason
    assert one(t, provider, last_fired={"drift": T0 - timedelta(minutes=30)}).status == "fired"
    # a false condition during the cooldown is simply quiet
    assert one(t, Provider({"drift.share": 0.1}), last_fired={"drift": fired_at}).status == "quiet"


def test_default_cooldown_is_the_alerts_cooldown() -> None:
    t = triggers({"name": "drift", "when": "drift.share > 0.3", "action": "alert"})
    provider = Provider({"drift.share": 0.5})
    assert one(t, provider, last_fired={"drift": T0 - timedelta(minutes=59)}).status == "cooldown"
    assert one(t, provider, last_fired={"drift": T0 - timedelta(minutes=61)}).status == "fired"


def test_schedule_is_armed_then_fires_once_per_scheduled_time() -> None:
    t = triggers({"name": "nightly", "schedule": "0 2 * * *", "action": "retrain"})
    provider = Provider({})
    first = one(t, provider)
    assert first.status == "not_due" and "armed" in first.reason
    assert first.next_due == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    before = one(t, provider, last_checked={"nightly": T0}, now=T0 + timedelta(minutes=29))
    assert before.status == "not_due" and "next run at 2026-11-29 02:00" in before.reason
    at_two = one(t, provider, last_checked={"nightly": T0 + timedelta(minutes=29)},
                 now=datetime(2026, 11, 29, 2, 0, 30, tzinfo=UTC))  # fmt: skip
    assert at_two.status == "fired" and at_two.reason == "scheduled (0 2 * * *)"
    # checked again a minute later: the 02:00 slot was used up
    again = one(t, provider, last_checked={"nightly": datetime(2026, 11, 29, 2, 0, 30, tzinfo=UTC)},
                now=datetime(2026, 11, 29, 2, 1, 30, tzinfo=UTC))  # fmt: skip
    assert again.status == "not_due"
    assert provider.calls == []  # a schedule alone never needs metrics
    # a schedule-only trigger has no cooldown unless configured
    assert one(t, provider, last_checked={"nightly": T0},
               last_fired={"nightly": T0}, now=T0 + timedelta(hours=1)).status == "fired"  # fmt: skip


def test_schedule_with_condition_evaluates_the_condition_only_when_due() -> None:
    t = triggers({"name": "hourly_drift", "when": "drift.share > 0.3", "schedule": "0 * * * *",
                  "action": "retrain"})  # fmt: skip
    provider = Provider({"drift.share": 0.5})
    not_due = one(t, provider, last_checked={"hourly_drift": T0}, now=T0 + timedelta(minutes=20))
    assert not_due.status == "not_due" and provider.calls == []
    due = one(t, provider, last_checked={"hourly_drift": T0}, now=T0 + timedelta(minutes=31))
    assert due.status == "fired" and provider.calls == [None]
    assert due.reason.endswith("; scheduled (0 * * * *)")
    quiet = one(t, Provider({"drift.share": 0.1}), last_checked={"hourly_drift": T0},
                now=T0 + timedelta(minutes=31))  # fmt: skip
    assert quiet.status == "quiet"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(604800, "1w"), (86400 * 3, "3d"), (7200, "2h"), (900, "15m"), (90, "90s"), (None, "-"),
     (0.5, "0.5s")],
)  # fmt: skip
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


def test_the_default_window_shares_the_snapshot_of_the_same_explicit_window() -> None:
    t = triggers(
        {"name": "a", "when": "drift.share > 0.3", "action": "alert"},
        {"name": "b", "when": "performance.f1 < 0.5 over 7d", "action": "retrain"},
    )
    provider = Provider({"drift.share": 0.4, "performance.f1": 0.6})
    results = evaluate_triggers(t, provider, now=T0, last_fired={}, last_checked={},
                                default_window_s=604800.0)  # fmt: skip
    assert [r.status for r in results] == ["fired", "quiet"]
    assert provider.calls == [604800.0]


def test_a_window_whose_metrics_fail_leaves_the_others_alone() -> None:
    from conveyor.errors import NotFound

    t = triggers(
        {"name": "a", "when": "drift.share > 0.3", "action": "alert"},
        {"name": "b", "when": "performance.f1 < 0.5 over 1d", "action": "retrain"},
        {"name": "c", "when": "errors.rate > 0.1", "action": "alert"},
    )

    def provider(window: float | None) -> dict:
        if window == 86400.0:
            raise NotFound("model 'churn' is not registered")
        return {"drift.share": 0.4, "errors.rate": 0.0}

    a, b, c = evaluate_triggers(t, provider, now=T0, last_fired={}, last_checked={})
    assert (a.status, c.status) == ("fired", "quiet")
    assert b.status == "not_enough_data" and b.error == "model 'churn' is not registered"
    assert b.values == {"performance.f1": None} and b.missing == ("performance.f1",)

    def unexpected(window: float | None) -> dict:
        raise ZeroDivisionError("a bug is not hidden")

    with pytest.raises(ZeroDivisionError):
        evaluate_triggers(t, unexpected, now=T0, last_fired={}, last_checked={})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45s"), (119, "119s"), (1133, "19m"), (7199, "120m"), (7200, "2h"), (200000, "2d")],
)
def test_format_elapsed(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text
