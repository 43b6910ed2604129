"""The trigger grammar: conditions over metric names, windows, cron schedules, and their errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.automate import KNOWN_METRICS, compile_triggers, parse_condition, parse_schedule
from conveyor.automate.wiring import config_locator
from conveyor.config._monitoring import TriggerConfig
from conveyor.errors import ConfigError


def test_known_metrics_are_exactly_what_the_monitor_produces() -> None:
    from conveyor.monitor.monitoring import SNAPSHOT_METRICS

    assert set(KNOWN_METRICS) == set(SNAPSHOT_METRICS)


@pytest.mark.parametrize(
    ("text", "window", "metrics"),
    [
        ("performance.accuracy < 0.92 over 7d", 604800.0, ("performance.accuracy",)),
        ("data.new_rows >= 10000", None, ("data.new_rows",)),
        ("drift.share > 0.3", None, ("drift.share",)),
        ("latency.p99_ms > 50", None, ("latency.p99_ms",)),
        ("drift.share > 0.3 and errors.rate >= 0.01 OVER 12h", 43200.0,
         ("drift.share", "errors.rate")),
        ("not (fallback.rate <= 0.1)", None, ("fallback.rate",)),
        ("abs(performance.rmse - 3) > 1 over 90m", 5400.0, ("performance.rmse",)),
    ],
)  # fmt: skip
def test_conditions_parse(text: str, window: float | None, metrics: tuple[str, ...]) -> None:
    cond = parse_condition(text)
    assert cond.window_s == window
    assert cond.metrics == metrics


def test_condition_values_and_three_valued_logic() -> None:
    cond = parse_condition("drift.share > 0.3 or errors.rate > 0.05")
    assert cond.evaluate({"drift.share": 0.5, "errors.rate": None}) is True
    assert cond.evaluate({"drift.share": 0.1, "errors.rate": 0.0}) is False
    # drift unknown, errors fine: unknown, not false
    assert cond.evaluate({"drift.share": None, "errors.rate": 0.0}) is None
    assert cond.evaluate({}) is None
    # NaN is "no value", as are strings that are not numbers
    assert cond.values({"drift.share": float("nan"), "errors.rate": "x"}) == {
        "drift.share": None,
        "errors.rate": None,
    }
    both = parse_condition("drift.share > 0.3 and errors.rate > 0.05")
    assert both.evaluate({"drift.share": 0.1, "errors.rate": None}) is False


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("performance.acuracy < 0.9", "unknown metric 'performance.acuracy'", 1),
        ("drift.share > 0.3 and performance.f2 > 0.5", "unknown metric 'performance.f2'", 23),
        ("drift.share >", "unexpected end", 14),
        ("drift.share > 0.3 over 7days", "'7days' is not a window", 24),
        ("drift.share > 0.3 over", "expected a duration after 'over'", 23),
        ("over 7d", "expected a condition before 'over'", 1),
        ("drift.share over 7d > 0.3", "'over <duration>' comes last", 18),
        ("drift.share + 1", "is a number where a condition", 1),
        ("drift.share > 'high'", "", None),
        ("drift.share = 0.3", "unknown operator '='", 13),
        ("drift.share > 0.3 && errors.rate > 0", "unknown operator '&&'", 19),
        ("   ", "is empty", 1),
    ],
)
def test_bad_conditions_point_at_the_column(text: str, message: str, column: int | None) -> None:
    with pytest.raises(ConfigError) as info:
        parse_condition(text, source="conveyor.yaml:9: triggers[0].when")
    error = info.value.message
    assert error.startswith("conveyor.yaml:9: triggers[0].when: expression ")
    assert message in error
    if column is not None:
        assert f"at column {column}" in error
        caret = error.splitlines()[-1]
        assert caret.index("^") - 4 == column - 1  # the caret sits under the column


def test_unknown_metric_lists_the_known_ones_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        parse_condition("latency.p99 > 50")
    assert "did you mean 'latency.p99_ms'?" in info.value.message
    assert info.value.hint is not None
    assert all(name in info.value.hint for name in KNOWN_METRICS)


def test_over_inside_a_quoted_name_is_not_a_window() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'x over 7d'"):
        parse_condition("`x over 7d` > 1")


@given(
    st.sampled_from(KNOWN_METRICS),
    st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.one_of(st.none(), st.integers(min_value=1, max_value=999).map(lambda n: f"{n}h")),
    st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)),
)
def test_any_comparison_of_a_known_metric_parses_and_agrees_with_python(
    metric: str, op: str, threshold: float, window: str | None, value: float | None
) -> None:
    import operator

    text = f"{metric} {op} {threshold!r}" + (f" over {window}" if window else "")
    cond = parse_condition(text)
    assert cond.metrics == (metric,)
    assert cond.window == window
    ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
           "==": operator.eq, "!=": operator.ne}  # fmt: skip
    expected = None if value is None else ops[op](value, threshold)
    assert cond.evaluate({metric: value}) == expected


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_config_error(text: str) -> None:
    try:
        cond = parse_condition(text)
    except ConfigError as exc:
        assert "expression" in exc.message or "is empty" in exc.message
    else:
        assert set(cond.metrics) <= set(KNOWN_METRICS)


def test_schedules() -> None:
    nightly = parse_schedule("0 2 * * *")
    at = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    assert nightly.next_after(at) == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert nightly.due(at, datetime(2026, 11, 29, 2, 0, tzinfo=UTC))
    assert not nightly.due(at, datetime(2026, 11, 29, 1, 59, tzinfo=UTC))
    # the scheduled time itself is not "after" a check made exactly then
    assert not nightly.due(datetime(2026, 11, 29, 2, 0, tzinfo=UTC),
                           datetime(2026, 11, 29, 3, 0, tzinfo=UTC))  # fmt: skip
    assert parse_schedule("  */15   * * * * ").text == "*/15 * * * *"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 2 * *", "has 4 field(s); a cron schedule has 5"),
        ("0 2 * * * *", "has 6 field(s)"),
        ("0 25 * * *", "bad field: hour '25'"),
        ("61 * * * *", "bad field: minute '61'"),
        ("* * 0 * *", "bad field: day-of-month '0'"),
        ("* * * 13 *", "bad field: month '13'"),
        ("nightly", "has 1 field(s)"),
    ],
)
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_schedule(text, source="conveyor.yaml:12: triggers[1].schedule")
    assert info.value.message.startswith("conveyor.yaml:12: triggers[1].schedule: schedule ")
    assert message in info.value.message


def test_compile_triggers_cooldowns_and_locations() -> None:
    configs = [
        TriggerConfig(name="drop", when="performance.accuracy < 0.9", action="retrain"),
        TriggerConfig(name="nightly", schedule="0 2 * * *", action="retrain"),
        TriggerConfig(name="both", when="drift.share > 0.3", schedule="0 * * * *",
                      action="alert", cooldown="15m"),
    ]  # fmt: skip
    drop, nightly, both = compile_triggers(configs, default_cooldown="1h")
    assert drop.cooldown_s == 3600.0 and drop.schedule is None
    assert nightly.cooldown_s is None and nightly.condition is None  # schedules need none
    assert both.cooldown_s == 900.0 and both.schedule and both.condition

    bad = [*configs, TriggerConfig(name="bad", when="drift.shar > 1", action="alert")]
    locate = config_locator("conveyor.yaml", {("triggers",): 20, ("triggers", 3, "when"): 31})
    with pytest.raises(ConfigError) as info:
        compile_triggers(bad, default_cooldown="1h", locate=locate)
    assert info.value.message.startswith("conveyor.yaml:31: triggers[3].when: expression ")
    with pytest.raises(ConfigError, match=r"^triggers\[3\]\.when: expression"):
        compile_triggers(bad, default_cooldown="1h")


def test_locator_falls_back_to_the_nearest_known_key() -> None:
    locate = config_locator("c.yaml", {("triggers",): 20})
    assert locate(("triggers", 2, "schedule")) == "c.yaml:20: triggers[2].schedule"
    assert config_locator("c.yaml", {})(("triggers", 0, "when")) == "c.yaml: triggers[0].when"
