from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.errors import ModelError
from conveyor.registry import PromotionDecision, decide_promotion


def decide(
    cand: float | None, champ: float | None, *, champion: bool = True, **kw: object
) -> PromotionDecision:
    options: dict = {
        "primary_metric": "roc_auc",
        "greater_is_better": True,
        "min_delta": 0.01,
        "gates_passed": True,
    }
    options.update(kw)
    return decide_promotion(
        {"roc_auc": cand} if cand is not None else {},
        ({"roc_auc": champ} if champ is not None else {}) if champion else None,
        **options,
    )


def test_failed_gates_are_rejected_whatever_the_score() -> None:
    d = decide(0.99, 0.5, gates_passed=False)
    assert d.action == "rejected" and "gates" in d.reason


def test_first_model_becomes_champion() -> None:
    d = decide(0.7, None, champion=False)
    assert d.action == "champion" and d.reason == "no champion yet; roc_auc 0.7"


def test_beating_by_more_than_min_delta_promotes() -> None:
    d = decide(0.86, 0.84)
    assert d.action == "champion"
    assert "roc_auc 0.86 vs champion 0.84 (+0.02" in d.reason


def test_better_but_within_min_delta_is_challenger() -> None:
    assert decide(0.845, 0.84).action == "challenger"


def test_exactly_min_delta_is_not_enough() -> None:
    d = decide_promotion(
        {"m": 1.5},
        {"m": 1.0},
        primary_metric="m",
        greater_is_better=True,
        min_delta=0.5,
        gates_passed=True,
    )
    assert d.action == "challenger"


def test_worse_or_equal_stays_candidate() -> None:
    assert decide(0.80, 0.84).action == "candidate"
    assert decide(0.84, 0.84, min_delta=0.0).action == "candidate"


def test_lower_is_better_metrics() -> None:
    kw = {
        "primary_metric": "rmse",
        "greater_is_better": False,
        "min_delta": 1.0,
        "gates_passed": True,
    }
    assert decide_promotion({"rmse": 10.0}, {"rmse": 12.0}, **kw).action == "champion"
    assert decide_promotion({"rmse": 11.5}, {"rmse": 12.0}, **kw).action == "challenger"
    d = decide_promotion({"rmse": 13.0}, {"rmse": 12.0}, **kw)
    assert d.action == "candidate" and "lower is better" in d.reason


def test_candidate_without_the_metric_is_not_compared() -> None:
    assert decide(None, 0.8).action == "candidate"
    assert decide(math.nan, 0.8).action == "candidate"


def test_champion_that_cannot_be_rescored_yields_a_challenger() -> None:
    d = decide(0.9, None)
    assert d.action == "challenger" and "could not be re-scored" in d.reason
    assert decide(0.9, math.nan).action == "challenger"


def test_auto_off_turns_champion_into_challenger() -> None:
    d = decide(0.9, 0.5, auto=False)
    assert d.action == "challenger" and "promotion.auto: false" in d.reason
    assert decide(0.5, 0.9, auto=False).action == "candidate"


def test_negative_min_delta_is_a_config_error() -> None:
    with pytest.raises(ModelError, match="min_delta must be >= 0"):
        decide(0.9, 0.5, min_delta=-0.1)


scores = st.floats(-1e6, 1e6, allow_nan=False)


@given(scores, scores, st.floats(0, 10), st.booleans())
def test_promotion_is_consistent_with_the_gain(
    cand: float, champ: float, delta: float, gib: bool
) -> None:
    d = decide_promotion(
        {"m": cand},
        {"m": champ},
        primary_metric="m",
        greater_is_better=gib,
        min_delta=delta,
        gates_passed=True,
    )
    gain = cand - champ if gib else champ - cand
    expected = "champion" if gain > delta else "challenger" if gain > 0 else "candidate"
    assert d.action == expected
