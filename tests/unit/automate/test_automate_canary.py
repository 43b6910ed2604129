"""The canary rule: wait, promote or reject, from two versions' live figures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from conveyor.automate import VersionStats, decide_canary, prediction_distance
from conveyor.config._monitoring import AgentCanaryConfig

RULES = AgentCanaryConfig(
    min_requests=100,
    min_duration="10m",
    max_duration="2h",
    max_error_rate_increase=0.01,
    max_latency_ratio=1.5,
    max_prediction_drift=0.2,
    min_performance_delta=0.0,
)
MIX = {"No": 0.7, "Yes": 0.3}


def stats(version: int, **kw: object) -> VersionStats:
    base: dict = {"requests": 500, "failure_rate": 0.0, "p99_ms": 10.0, "labels": MIX}
    base.update(kw)
    return VersionStats(version=version, **base)


def decide(champion: VersionStats | None, challenger: VersionStats, elapsed: float = 1200.0):
    return decide_canary(champion, challenger, config=RULES, elapsed_s=elapsed, min_labels=30)


def test_waits_for_requests_and_time_then_gives_up_at_max_duration() -> None:
    few = decide(stats(1), stats(2, requests=40))
    assert few.action == "wait" and "40/100 requests" in few.reason
    early = decide(stats(1), stats(2), elapsed=300)
    assert early.action == "wait" and "5m/10m elapsed" in early.reason
    late = decide(stats(1), stats(2, requests=40), elapsed=7200)
    assert late.action == "reject"
    assert late.reason.startswith("not enough evidence after 2h (max_duration)")


def test_a_healthy_challenger_is_promoted_and_skipped_checks_say_why() -> None:
    verdict = decide(stats(1), stats(2))
    assert verdict.action == "promote"
    assert verdict.reason == "passed failure_rate, latency, prediction_drift (skipped: performance)"
    perf = next(c for c in verdict.checks if c.name == "performance")
    assert perf.passed is None and "too few labels" in perf.detail
    assert verdict.evidence()["verdict"] == "promote"


@pytest.mark.parametrize(
    ("challenger", "failed", "text"),
    [
        (stats(2, failure_rate=0.05), "failure_rate", "failure rate 5.00% vs champion 0.00%"),
        (stats(2, p99_ms=16.0), "latency", "ratio 1.60, at most 1.5"),
        (stats(2, labels={"No": 0.4, "Yes": 0.6}), "prediction_drift", "prediction drift 0.300"),
    ],
)
def test_each_check_can_reject(challenger: VersionStats, failed: str, text: str) -> None:
    verdict = decide(stats(1), challenger)
    assert verdict.action == "reject"
    assert [c.name for c in verdict.checks if c.passed is False] == [failed]
    assert text in verdict.reason


def test_bounds_are_inclusive() -> None:
    edge = stats(2, failure_rate=0.01, p99_ms=15.0, labels={"No": 0.5, "Yes": 0.5})
    assert decide(stats(1), edge).action == "promote"


def test_live_performance_counts_only_with_enough_labels() -> None:
    champ = stats(1, metric="accuracy", performance=0.80, labelled=50)
    worse = stats(2, metric="accuracy", performance=0.75, labelled=50)
    verdict = decide(champ, worse)
    assert (
        verdict.action == "reject" and "live accuracy 0.7500 vs champion 0.8000" in verdict.reason
    )
    assert decide(champ, stats(2, metric="accuracy", performance=0.82, labelled=50)).action == (
        "promote"
    )
    thin = stats(2, metric="accuracy", performance=0.5, labelled=10)
    assert decide(champ, thin).action == "promote"  # 10 labels judge nothing


def test_lower_is_better_for_rmse() -> None:
    champ = stats(1, labels=None, values=[1.0, 2.0], metric="rmse", performance=3.0, labelled=40)
    better = stats(2, labels=None, values=[1.0, 2.0], metric="rmse", performance=2.5,
                   labelled=40)  # fmt: skip
    worse = stats(2, labels=None, values=[1.0, 2.0], metric="rmse", performance=3.5, labelled=40)
    assert decide(champ, better).action == "promote"
    assert decide(champ, worse).action == "reject"


def test_without_champion_traffic_the_comparisons_are_skipped() -> None:
    verdict = decide(None, stats(2))
    assert verdict.action == "promote"
    assert all(c.passed is None for c in verdict.checks)
    idle = decide(stats(1, requests=0, failure_rate=None, p99_ms=None, labels=None), stats(2))
    assert idle.action == "promote"


def test_zero_champion_latency() -> None:
    assert decide(stats(1, p99_ms=0.0), stats(2, p99_ms=0.0)).action == "promote"
    assert decide(stats(1, p99_ms=0.0), stats(2, p99_ms=1.0)).action == "reject"


def test_prediction_distance() -> None:
    same = prediction_distance(stats(1), stats(2))
    assert same == 0.0
    apart = prediction_distance(stats(1, labels={"a": 1.0}), stats(2, labels={"b": 1.0}))
    assert apart == 1.0
    values = prediction_distance(
        stats(1, labels=None, values=[1.0, 2.0, 3.0, 4.0]),
        stats(2, labels=None, values=[3.0, 4.0, 5.0, 6.0]),
    )
    assert values == 0.5
    assert prediction_distance(stats(1, labels=None), stats(2)) is None


@given(
    st.dictionaries(st.sampled_from("abcd"), st.floats(0, 1), min_size=1),
    st.dictionaries(st.sampled_from("abcd"), st.floats(0, 1), min_size=1),
)
def test_label_distance_is_a_bounded_symmetric_distance(a: dict, b: dict) -> None:
    def norm(d: dict) -> dict:
        total = sum(d.values())
        return {k: v / total for k, v in d.items()} if total else {k: 1 / len(d) for k in d}

    x, y = stats(1, labels=norm(a)), stats(2, labels=norm(b))
    d = prediction_distance(x, y)
    assert d is not None and -1e-9 <= d <= 1 + 1e-9
    assert d == pytest.approx(prediction_distance(y, x))
    assert prediction_distance(x, x) == pytest.approx(0.0)


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
)
def test_ks_distance_matches_scipy(xs: list[float], ys: list[float]) -> None:
    d = prediction_distance(stats(1, labels=None, values=xs), stats(2, labels=None, values=ys))
    with np.errstate(all="ignore"):  # the p-value may divide by zero; only the statistic counts
        expected = ks_2samp(xs, ys, method="asymp").statistic
    assert d == pytest.approx(expected)
