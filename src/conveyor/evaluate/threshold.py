"""Choosing the decision threshold of a binary classifier from a rule in config."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from conveyor.errors import ConfigError, ModelError
from conveyor.evaluate._common import label_text, positive_mask

__all__ = ["ThresholdChoice", "ThresholdRule", "choose_threshold", "parse_threshold_rule"]

_RULE = re.compile(r"^\s*(precision|recall)\s*>=\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")
_EXPECTED = "expected 'default' (0.5), 'max_f1', 'precision>=X' or 'recall>=X' with 0 < X <= 1"


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed ``evaluate.threshold`` value."""

    kind: Literal["default", "max_f1", "precision", "recall"]
    target: float | None = None

    @property
    def text(self) -> str:
        return self.kind if self.target is None else f"{self.kind}>={self.target:g}"


@dataclass
class ThresholdChoice:
    """The chosen cut-off on the positive-class probability and what it achieves.

    Attributes:
        threshold: predict the positive class when ``proba >= threshold``.
        rule: the rule actually applied (``max_f1`` after a fallback).
        achieved: precision, recall, f1 and positive_rate at ``threshold`` on
            the data it was chosen on (a metric undefined there is absent).
        requested: the rule as written in config.
        note: why the requested rule was not applied as written, if it was not.
    """

    threshold: float
    rule: str
    achieved: dict[str, float] = field(default_factory=dict)
    requested: str = ""
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rule": self.rule,
            "requested": self.requested or self.rule,
            "achieved": dict(self.achieved),
            "note": self.note,
        }


def parse_threshold_rule(text: str, *, where: str = "evaluate.threshold") -> ThresholdRule:
    """Read ``default``, ``max_f1``, ``precision>=0.8`` or ``recall>=0.7``.

    Raises:
        ConfigError: ``"evaluate.threshold: cannot read 'f1': expected …"``.
    """
    raw = str(text).strip().lower()
    if raw in ("default", "max_f1"):
        return ThresholdRule(raw)  # type: ignore[arg-type]
    match = _RULE.match(raw)
    if match:
        target = float(match.group(2))
        if 0 < target <= 1:
            return ThresholdRule(match.group(1), target)  # type: ignore[arg-type]
    raise ConfigError(f"{where}: cannot read {text!r}: {_EXPECTED}")


def choose_threshold(
    y_true: Any, proba_pos: Any, *, rule: str, positive_class: Any
) -> ThresholdChoice:
    """Pick the probability cut-off for ``positive_class`` that satisfies ``rule``.

    ``max_f1`` maximises F1; ``precision>=X`` takes the highest recall among
    cut-offs with precision at least X; ``recall>=X`` the highest precision
    among cut-offs with recall at least X. A rule no cut-off meets falls back
    to ``max_f1`` and says so in ``note``; with a single class in ``y_true``
    nothing can be learned and 0.5 is used. A chosen cut-off sits halfway
    between two neighbouring scores, so the same rows fall on each side but
    new scores near the edge are not decided by a hair.

    Example:
        >>> choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], rule="max_f1",
        ...                  positive_class=1).achieved["f1"]
        0.8
    """
    parsed = parse_threshold_rule(rule)
    actual = positive_mask(y_true, positive_class)
    score = np.asarray(proba_pos, dtype=float).reshape(-1)
    if score.shape[0] != actual.shape[0]:
        raise ModelError(
            f"choose_threshold: {actual.shape[0]} labels but {score.shape[0]} probabilities"
        )
    if not np.isfinite(score).all():
        raise ModelError("choose_threshold: the probabilities contain NaN or infinite values")
    requested = parsed.text

    def done(threshold: float, applied: str, note: str | None = None) -> ThresholdChoice:
        return ThresholdChoice(
            threshold=float(threshold),
            rule=applied,
            achieved=_achieved(actual, score, threshold),
            requested=requested,
            note=note,
        )

    if parsed.kind == "default":
        return done(0.5, "default")
    n_pos = int(actual.sum())
    if n_pos in (0, len(actual)):
        return done(
            0.5,
            "default",
            f"threshold: {requested} needs both classes in the threshold data, but every row "
            f"is {'' if n_pos else 'not '}{label_text(positive_class)!r}; used 0.5",
        )

    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(actual, score)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no cut-off
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best_f1 = int(np.argmax(f1))
    if parsed.kind == "max_f1":
        return done(_between(cuts, best_f1), "max_f1")

    target = float(parsed.target or 0.0)
    if parsed.kind == "precision":
        ok = np.flatnonzero(precision >= target)
        # Highest recall first, then the highest precision among equal recalls.
        order = np.lexsort((-precision[ok], -recall[ok])) if len(ok) else ok
        best_seen = float(precision.max())
    else:
        ok = np.flatnonzero(recall >= target)
        order = np.lexsort((-recall[ok], -precision[ok])) if len(ok) else ok
        best_seen = float(recall.max())
    if len(ok) == 0:
        note = (
            f"threshold: no cut-off reaches {parsed.kind} >= {target:g} on the threshold data "
            f"(best {parsed.kind} {best_seen:.3g}); used max_f1 instead"
        )
        return done(_between(cuts, best_f1), "max_f1", note)
    return done(_between(cuts, int(ok[order[0]])), requested)


def _between(cuts: np.ndarray, i: int) -> float:
    # ``cuts`` ascend; any value in (cuts[i-1], cuts[i]] gives the same predictions.
    if i == 0:
        return float(cuts[0])
    mid = float((cuts[i - 1] + cuts[i]) / 2)
    # Neighbours one float apart (e.g. 0.0 and 5e-324) have no midpoint strictly between them.
    return mid if mid > cuts[i - 1] else float(cuts[i])


def _achieved(actual: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = score >= threshold
    tp = int(np.sum(actual & predicted))
    fp = int(np.sum(~actual & predicted))
    fn = int(np.sum(actual & ~predicted))
    out = {"positive_rate": float(predicted.mean()) if len(predicted) else 0.0}
    if tp + fp:
        out["precision"] = tp / (tp + fp)
    if tp + fn:
        out["recall"] = tp / (tp + fn)
    if 2 * tp + fp + fn:
        out["f1"] = 2 * tp / (2 * tp + fp + fn)
    return out
