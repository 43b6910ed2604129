from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.errors import ConfigError, GateFailed
from conveyor.evaluate import Gate, check_gates, parse_gate


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [(">= 0.80", ">=", 0.8), ("> 0.5", ">", 0.5), ("<= 10", "<=", 10.0), ("<3", "<", 3.0),
     ("  >=  -1.5e-2 ", ">=", -0.015), (">= .9", ">=", 0.9)],
)  # fmt: skip
def test_parse_gate_good(text: str, op: str, value: float) -> None:
    gate = parse_gate("roc_auc", text, where="evaluate.gates.roc_auc")
    assert gate == Gate("roc_auc", op, value)


@pytest.mark.parametrize(
    "text", ["=> 0.8", "0.8", ">= ", "== 0.8", ">= nan", ">= inf", ">= 0.8 x", ""]
)
def test_parse_gate_bad(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate("roc_auc", text, where="evaluate.gates.roc_auc")
    assert str(info.value) == (
        f"evaluate.gates.roc_auc: cannot read {text!r}: "
        "expected an operator (>=, >, <=, <) and a number"
    )


def test_the_documented_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate("roc_auc", "=> 0.8", where="evaluate.gates.roc_auc")
    assert info.value.message == (
        "evaluate.gates.roc_auc: cannot read '=> 0.8': "
        "expected an operator (>=, >, <=, <) and a number"
    )


def test_check_gates_pass_and_fail_lines() -> None:
    metrics = {"recall": 0.54, "roc_auc": 0.91, "log_loss": 0.4}
    result = check_gates(
        {"recall": ">= 0.6", "roc_auc": "> 0.9", "log_loss": "< 0.3"}, metrics, task="binary"
    )
    assert not result.passed
    assert result.failed == [
        "recall 0.54 < 0.6 (gate: recall >= 0.6)",
        "log_loss 0.4 >= 0.3 (gate: log_loss < 0.3)",
    ]
    assert [r["passed"] for r in result.results] == [False, True, False]
    assert result.results[0] == {
        "metric": "recall", "op": ">=", "threshold": 0.6, "value": 0.54, "passed": False
    }  # fmt: skip
    with pytest.raises(GateFailed, match=r"^m1: failed 2 evaluation gate\(s\): recall 0.54"):
        result.raise_if_failed(model_name="m1")


def test_boundaries_and_close_values_read_clearly() -> None:
    assert check_gates({"r2": ">= 0.5"}, {"r2": 0.5}).passed
    result = check_gates({"r2": "> 0.5"}, {"r2": 0.5})
    assert result.failed == ["r2 0.5 <= 0.5 (gate: r2 > 0.5)"]
    close = check_gates({"r2": ">= 0.6"}, {"r2": 0.599999})
    assert close.failed == ["r2 0.599999 < 0.6 (gate: r2 >= 0.6)"]


def test_no_gates_passes() -> None:
    result = check_gates({}, {"accuracy": 0.1})
    assert result.passed and result.results == [] and result.failed == []
    result.raise_if_failed(model_name="m")


def test_unknown_metric_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError) as info:
        check_gates({"rocauc": ">= 0.8"}, {"roc_auc": 0.9}, task="binary")
    message = info.value.message
    assert message.startswith(
        "evaluate.gates.rocauc: unknown metric 'rocauc' (did you mean 'roc_auc'?)"
    )
    assert "available:" in message and "accuracy" in message
    with pytest.raises(ConfigError, match="unknown metric 'rmse'"):
        check_gates({"rmse": "< 3"}, {}, task="binary")


def test_known_metric_that_could_not_be_computed_fails_the_gate() -> None:
    result = check_gates({"roc_auc": ">= 0.8"}, {"accuracy": 1.0}, task="binary")
    assert not result.passed
    assert result.failed == ["roc_auc could not be computed on this data (gate: roc_auc >= 0.8)"]
    assert result.results[0]["value"] is None


def test_bad_gate_text_is_reported_with_its_key_path() -> None:
    with pytest.raises(ConfigError, match=r"^evaluate\.gates\.recall: cannot read '>> 1'"):
        check_gates({"recall": ">> 1"}, {"recall": 1.0})


@given(st.sampled_from([">=", ">", "<=", "<"]), st.floats(allow_nan=False, allow_infinity=False))
def test_parse_gate_round_trips_any_number(op: str, value: float) -> None:
    gate = parse_gate("m", f"{op} {value!r}", where="w")
    assert gate.op == op and gate.threshold == value


@given(st.text(max_size=20))
def test_parse_gate_only_ever_raises_config_error(text: str) -> None:
    try:
        gate = parse_gate("m", text, where="w")
    except ConfigError:
        return
    assert gate.op in {">=", ">", "<=", "<"}
