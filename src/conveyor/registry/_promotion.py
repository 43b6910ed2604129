"""The promotion rule: champion, challenger, candidate or rejected.

A pure function of numbers, so the pipeline and the agent decide the same
way and tests need no database. The caller re-scores the current champion on
the newest test split and passes that score in, so both models are judged on
the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from conveyor.errors import ModelError

__all__ = ["PromotionAction", "PromotionDecision", "decide_promotion"]

PromotionAction = Literal["champion", "challenger", "candidate", "rejected"]


@dataclass(frozen=True)
class PromotionDecision:
    """What to do with a new version, and a sentence saying why."""

    action: PromotionAction
    reason: str


def _number(metrics: Mapping[str, Any] | None, name: str) -> float | None:
    if metrics is None:
        return None
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def decide_promotion(
    candidate_metrics: Mapping[str, Any],
    champion_metrics_rescored: Mapping[str, Any] | None,
    *,
    primary_metric: str,
    greater_is_better: bool,
    min_delta: float = 0.0,
    gates_passed: bool,
    auto: bool = True,
) -> PromotionDecision:
    """Decide the status of a new version.

    Rules, in order:

    1. failed gates -> ``rejected``;
    2. the candidate's primary metric is missing or NaN -> ``candidate``;
    3. no champion -> ``champion``;
    4. the champion could not be re-scored -> ``challenger`` (a person decides);
    5. beats the champion by more than ``min_delta`` -> ``champion``;
    6. better, but not by more than ``min_delta`` -> ``challenger``;
    7. otherwise -> ``candidate``.

    With ``auto=False`` a ``champion`` outcome becomes ``challenger`` (promotion
    is then a manual step).

    Args:
        candidate_metrics: the new version's metrics on the test split.
        champion_metrics_rescored: the champion's metrics on the same split,
            or None when there is no champion.
        primary_metric: the metric that decides (e.g. ``roc_auc``, ``rmse``).
        greater_is_better: False for errors such as ``rmse``.
        min_delta: the margin the candidate must beat the champion by.
        gates_passed: whether every evaluation gate passed.
        auto: promotion.auto from the config.

    Example:
        >>> decide_promotion({"roc_auc": 0.85}, {"roc_auc": 0.84}, primary_metric="roc_auc",
        ...                  greater_is_better=True, min_delta=0.005, gates_passed=True).action
        'champion'
    """
    if min_delta < 0 or math.isnan(min_delta):
        raise ModelError(f"promotion.min_delta must be >= 0, got {min_delta}")
    decision = _decide(
        candidate_metrics,
        champion_metrics_rescored,
        primary_metric=primary_metric,
        greater_is_better=greater_is_better,
        min_delta=min_delta,
        gates_passed=gates_passed,
    )
    if decision.action == "champion" and not auto:
        return PromotionDecision(
            "challenger", decision.reason + "; automatic promotion is off (promotion.auto: false)"
        )
    return decision


def _decide(
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    *,
    primary_metric: str,
    greater_is_better: bool,
    min_delta: float,
    gates_passed: bool,
) -> PromotionDecision:
    m = primary_metric
    if not gates_passed:
        return PromotionDecision("rejected", "failed its evaluation gates")
    score = _number(candidate, m)
    if score is None:
        return PromotionDecision(
            "candidate", f"the candidate has no usable {m} ({candidate.get(m)!r}); not compared"
        )
    if champion is None:
        return PromotionDecision("champion", f"no champion yet; {m} {score:.4g}")
    incumbent = _number(champion, m)
    if incumbent is None:
        return PromotionDecision(
            "challenger",
            f"{m} {score:.4g}, but the champion could not be re-scored on the new test split",
        )
    gain = score - incumbent if greater_is_better else incumbent - score
    direction = "higher" if greater_is_better else "lower"
    text = f"{m} {score:.4g} vs champion {incumbent:.4g} ({gain:+.4g}, {direction} is better"
    if gain > min_delta:
        return PromotionDecision("champion", f"{text}; beats min_delta {min_delta:g})")
    if gain > 0:
        return PromotionDecision(
            "challenger", f"{text}; better but not by more than min_delta {min_delta:g})"
        )
    return PromotionDecision("candidate", f"{text}; does not beat the champion)")
