"""The canary rule: promote the challenger, roll it back, or wait for more evidence.

:func:`decide_canary` is a pure function of two :class:`VersionStats` (the
champion's and the challenger's live figures since the canary started) and
the ``agent.canary`` config, so it is tested without a server. The figures
come from the prediction log and feedback
(:func:`conveyor.automate.live_version_stats`).

Rules, in order:

1. fewer than ``min_requests`` challenger answers, or less than
   ``min_duration`` elapsed: *wait*; past ``max_duration``: *reject*
   (not enough evidence);
2. failure rate (errors and fallback answers) may rise by at most
   ``max_error_rate_increase``;
3. challenger p99 latency over the champion's at most ``max_latency_ratio``;
4. distance between the two versions' prediction mixes at most
   ``max_prediction_drift`` (total variation for labels, Kolmogorov–Smirnov
   for values; both between 0 and 1);
5. where both versions have at least ``min_labels`` labelled answers, the
   challenger's live performance (accuracy; RMSE for regression, lower is
   better) minus the champion's at least ``min_performance_delta``.

A check whose figures are missing (no champion traffic, no latencies, too
few labels) is skipped and says so; any failed check rejects; otherwise the
challenger is promoted.

Example:
    >>> verdict = decide_canary(champion, challenger, config=AgentCanaryConfig(),
    ...                         elapsed_s=900)  # doctest: +SKIP
    >>> verdict.action  # doctest: +SKIP
    'promote'
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from conveyor.config._monitoring import AgentCanaryConfig, parse_duration

__all__ = [
    "CanaryCheck",
    "CanaryVerdict",
    "VersionStats",
    "decide_canary",
    "prediction_distance",
]


@dataclass(frozen=True)
class VersionStats:
    """Live figures of one version over the canary period.

    Attributes:
        requests: answers the version gave (shadow answers included).
        failure_rate: share of those that were errors or fallback answers.
        p99_ms: 99th percentile latency (None without latencies).
        labels: class label -> share of answers (classification).
        values: a sample of predicted values (regression).
        metric: the live performance metric (``accuracy`` or ``rmse``).
        performance: its value on the labelled answers (None: none labelled).
        labelled: how many answers have feedback.
    """

    version: int
    requests: int
    failure_rate: float | None = None
    error_rate: float | None = None
    fallback_rate: float | None = None
    p99_ms: float | None = None
    labels: Mapping[str, float] | None = None
    values: Sequence[float] | None = None
    metric: str | None = None
    performance: float | None = None
    labelled: int = 0

    def evidence(self) -> dict[str, Any]:
        """The figures as plain data (value samples summarised as quantiles)."""
        out: dict[str, Any] = {
            "version": self.version,
            "requests": self.requests,
            "failure_rate": self.failure_rate,
            "error_rate": self.error_rate,
            "fallback_rate": self.fallback_rate,
            "p99_ms": self.p99_ms,
            "labelled": self.labelled,
        }
        if self.metric is not None:
            out[self.metric] = self.performance
        if self.labels is not None:
            out["prediction_mix"] = dict(self.labels)
        if self.values:
            ordered = sorted(self.values)
            out["prediction_quantiles"] = {
                f"p{q}": ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
                for q in (5, 25, 50, 75, 95)
            }
        return out


@dataclass(frozen=True)
class CanaryCheck:
    """One comparison: its value, its bound and whether it passed (None: skipped)."""

    name: str
    value: float | None
    threshold: float
    passed: bool | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CanaryVerdict:
    """``wait``, ``promote`` or ``reject``, why, and the checks behind it."""

    action: Literal["wait", "promote", "reject"]
    reason: str
    checks: tuple[CanaryCheck, ...] = field(default_factory=tuple)

    def evidence(self) -> dict[str, Any]:
        return {"verdict": self.action, "checks": [c.to_dict() for c in self.checks]}


def prediction_distance(a: VersionStats, b: VersionStats) -> float | None:
    """How differently two versions predict: total variation of the label mixes, or the
    Kolmogorov–Smirnov statistic of the predicted values; None without predictions.

    Example:
        >>> prediction_distance(VersionStats(1, 10, labels={"a": 0.5, "b": 0.5}),
        ...                     VersionStats(2, 10, labels={"a": 0.8, "b": 0.2}))
        0.3
    """
    if a.labels and b.labels:
        keys = set(a.labels) | set(b.labels)
        distance = 0.5 * sum(abs(a.labels.get(k, 0.0) - b.labels.get(k, 0.0)) for k in keys)
        return round(distance, 12)
    if a.values and b.values:
        xs, ys = sorted(a.values), sorted(b.values)
        gap = 0.0
        for point in set(xs) | set(ys):
            fx = bisect.bisect_right(xs, point) / len(xs)
            fy = bisect.bisect_right(ys, point) / len(ys)
            gap = max(gap, abs(fx - fy))
        return gap
    return None


def decide_canary(
    champion: VersionStats | None,
    challenger: VersionStats,
    *,
    config: AgentCanaryConfig,
    elapsed_s: float,
    min_labels: int = 30,
) -> CanaryVerdict:
    """Decide the canary (see the module docstring for the rules)."""
    min_duration = parse_duration(config.min_duration)
    max_duration = parse_duration(config.max_duration)
    if challenger.requests < config.min_requests or elapsed_s < min_duration:
        progress = (
            f"{challenger.requests}/{config.min_requests} requests, "
            f"{_minutes(elapsed_s)}/{_minutes(min_duration)} elapsed"
        )
        if elapsed_s >= max_duration:
            return CanaryVerdict(
                "reject",
                f"not enough evidence after {config.max_duration} (max_duration): {progress}",
            )
        return CanaryVerdict("wait", f"collecting evidence: {progress}")
    checks = (
        _failure_check(champion, challenger, config),
        _latency_check(champion, challenger, config),
        _drift_check(champion, challenger, config),
        _performance_check(champion, challenger, config, min_labels),
    )
    failed = [c for c in checks if c.passed is False]
    if failed:
        return CanaryVerdict("reject", "; ".join(c.detail for c in failed), checks)
    passed = [c.name for c in checks if c.passed]
    skipped = [c.name for c in checks if c.passed is None]
    reason = f"passed {', '.join(passed) or 'no check'}"
    if skipped:
        reason += f" (skipped: {', '.join(skipped)})"
    return CanaryVerdict("promote", reason, checks)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f}m" if seconds >= 60 else f"{seconds:.0f}s"


def _failure_check(
    champion: VersionStats | None, challenger: VersionStats, config: AgentCanaryConfig
) -> CanaryCheck:
    bound = config.max_error_rate_increase
    if champion is None or not champion.requests or challenger.failure_rate is None:
        return CanaryCheck("failure_rate", None, bound, None, "the champion served no request")
    increase = challenger.failure_rate - (champion.failure_rate or 0.0)
    ok = increase <= bound + 1e-12
    detail = (
        f"failure rate {challenger.failure_rate:.2%} vs champion {champion.failure_rate:.2%} "
        f"({increase:+.2%}, at most {bound:+.2%})"
    )
    return CanaryCheck("failure_rate", increase, bound, ok, detail)


def _latency_check(
    champion: VersionStats | None, challenger: VersionStats, config: AgentCanaryConfig
) -> CanaryCheck:
    bound = config.max_latency_ratio
    if champion is None or champion.p99_ms is None or challenger.p99_ms is None:
        return CanaryCheck("latency", None, bound, None, "no latency figures for both versions")
    if champion.p99_ms <= 0:
        ratio = 1.0 if challenger.p99_ms <= 0 else float("inf")
    else:
        ratio = challenger.p99_ms / champion.p99_ms
    detail = (
        f"p99 latency {challenger.p99_ms:.2f} ms vs champion {champion.p99_ms:.2f} ms "
        f"(ratio {ratio:.2f}, at most {bound:g})"
    )
    return CanaryCheck("latency", ratio, bound, ratio <= bound, detail)


def _drift_check(
    champion: VersionStats | None, challenger: VersionStats, config: AgentCanaryConfig
) -> CanaryCheck:
    bound = config.max_prediction_drift
    distance = prediction_distance(champion, challenger) if champion is not None else None
    if distance is None:
        return CanaryCheck(
            "prediction_drift", None, bound, None, "no predictions of both versions to compare"
        )
    detail = f"prediction drift {distance:.3f} between the versions (at most {bound:g})"
    return CanaryCheck("prediction_drift", distance, bound, distance <= bound, detail)


def _performance_check(
    champion: VersionStats | None,
    challenger: VersionStats,
    config: AgentCanaryConfig,
    min_labels: int,
) -> CanaryCheck:
    bound = config.min_performance_delta
    if (
        champion is None
        or champion.performance is None
        or challenger.performance is None
        or min(champion.labelled, challenger.labelled) < min_labels
    ):
        have = f"{challenger.labelled} / {champion.labelled if champion else 0}"
        return CanaryCheck(
            "performance",
            None,
            bound,
            None,
            f"too few labels (challenger / champion: {have}; need {min_labels} each)",
        )
    metric = challenger.metric or "performance"
    lower_is_better = metric in ("rmse", "mae")
    delta = challenger.performance - champion.performance
    if lower_is_better:
        delta = -delta
    detail = (
        f"live {metric} {challenger.performance:.4f} vs champion {champion.performance:.4f} "
        f"({'improvement' if delta >= 0 else 'loss'} {abs(delta):.4f}; need at least {bound:+g})"
    )
    return CanaryCheck("performance", delta, bound, delta >= bound - 1e-12, detail)
