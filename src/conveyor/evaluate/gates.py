"""Evaluation gates: ``evaluate.gates: {recall: ">= 0.6"}`` read and checked without eval."""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import ConfigError, GateFailed
from conveyor.evaluate.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, metric_names

__all__ = ["Gate", "GateResult", "check_gates", "parse_gate"]

_GATE = re.compile(r"^\s*(>=|<=|>|<)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
# What a failed comparison reads like: "0.54 < 0.6" for a ">= 0.6" gate.
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


@dataclass(frozen=True)
class Gate:
    """One parsed gate: ``metric op threshold``."""

    metric: str
    op: str
    threshold: float

    def passes(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    def describe(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass
class GateResult:
    """The outcome of every gate.

    Attributes:
        passed: True when every gate passed (also when there are none).
        results: one dict per gate: metric, op, threshold, value (None when
            the metric could not be computed), passed.
        failed: one human line per failed gate, e.g.
            ``"recall 0.54 < 0.6 (gate: recall >= 0.6)"``.
    """

    passed: bool = True
    results: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "results": list(self.results), "failed": list(self.failed)}

    def raise_if_failed(self, *, model_name: str) -> None:
        """Raise :class:`GateFailed` naming every failed gate of ``model_name``."""
        if not self.passed:
            raise GateFailed(
                f"{model_name}: failed {len(self.failed)} evaluation gate(s): "
                + "; ".join(self.failed),
                hint="improve the model or relax evaluate.gates",
            )


def parse_gate(metric: str, text: str, *, where: str) -> Gate:
    """Read ``">= 0.80"``, ``"> 0.5"``, ``"<= 10"`` or ``"< 3"``.

    Raises:
        ConfigError: ``"evaluate.gates.roc_auc: cannot read '=> 0.8': expected
        an operator (>=, >, <=, <) and a number"``.

    Example:
        >>> parse_gate("recall", ">= 0.6", where="evaluate.gates.recall").describe()
        'recall >= 0.6'
    """
    match = _GATE.match(str(text))
    value = float(match.group(2)) if match else math.nan
    if not match or not math.isfinite(value):
        raise ConfigError(
            f"{where}: cannot read {text!r}: expected an operator (>=, >, <=, <) and a number"
        )
    return Gate(metric=metric, op=match.group(1), threshold=value)


def check_gates(
    gates: Mapping[str, str],
    metrics: Mapping[str, float],
    *,
    task: str | None = None,
    where: str = "evaluate.gates",
) -> GateResult:
    """Check each ``metric -> "op number"`` gate against ``metrics``.

    A gate on a metric that exists for the task but could not be computed
    here (say roc_auc with one class in the test set) fails with a reason.

    Raises:
        ConfigError: a gate cannot be read, or names a metric that does not
            exist (the message lists the available ones).
    """
    parsed = [parse_gate(name, text, where=f"{where}.{name}") for name, text in gates.items()]
    known = set(metric_names(task)) if task else set(CLASSIFICATION_METRICS + REGRESSION_METRICS)
    known |= set(metrics)
    result = GateResult()
    for gate in parsed:
        if gate.metric not in known:
            raise ConfigError(_unknown_metric(gate.metric, sorted(known), where))
        value = metrics.get(gate.metric)
        usable = value is not None and math.isfinite(float(value))
        ok = bool(usable and gate.passes(float(value)))  # type: ignore[arg-type]
        result.results.append(
            {
                "metric": gate.metric,
                "op": gate.op,
                "threshold": gate.threshold,
                "value": float(value) if usable else None,  # type: ignore[arg-type]
                "passed": ok,
            }
        )
        if ok:
            continue
        result.passed = False
        if usable:
            shown, limit = _pair(float(value), gate.threshold)  # type: ignore[arg-type]
            result.failed.append(
                f"{gate.metric} {shown} {_NEGATED[gate.op]} {limit} (gate: {gate.describe()})"
            )
        else:
            result.failed.append(
                f"{gate.metric} could not be computed on this data (gate: {gate.describe()})"
            )
    return result


def _pair(value: float, threshold: float) -> tuple[str, str]:
    # Add digits until the value and the threshold print differently (0.59999 vs 0.6).
    limit = f"{threshold:g}"
    for digits in (4, 6, 8, 12, 17):
        shown = f"{value:.{digits}g}"
        if shown != limit:
            return shown, limit
    return repr(value), limit


def _unknown_metric(metric: str, available: list[str], where: str) -> str:
    close = difflib.get_close_matches(metric, available, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}.{metric}: unknown metric {metric!r}{hint}; available: {', '.join(available)}"
