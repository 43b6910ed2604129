"""The agent's closed loop against a real registry: retrain, canary, promote, reject, roll back.

The retrain is a callable that registers versions directly (the pipeline's part
is covered end to end in tests/e2e/test_cli_automate.py); metrics, live
per-version figures and time are injected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from conveyor.automate import (
    Agent,
    Alert,
    AlertDispatcher,
    AutomationStore,
    RetrainOutcome,
    VersionStats,
    compile_triggers,
)
from conveyor.config._monitoring import AgentConfig, TriggerConfig
from conveyor.errors import DataError
from conveyor.registry import Registry

DIGEST = "a" * 64


class Sink:
    label = "test"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert, *, created_at: datetime) -> None:
        self.alerts.append(alert)

    def titles(self) -> list[str]:
        return [a.title for a in self.alerts]


def register(registry: Registry, status: str = "candidate", **metrics: float) -> int:
    return registry.register(
        "churn", bundle_digest=DIGEST, manifest_digest=DIGEST, run_id="run1", dataset_version=1,
        config_fingerprint="fp", metrics=metrics or {"roc_auc": 0.8}, gates={}, status=status,
    ).version  # fmt: skip


class Live:
    """Per-version live figures the test sets."""

    def __init__(self) -> None:
        self.figures: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[int, datetime, datetime]] = []

    def __call__(self, version: int, since: datetime, until: datetime) -> VersionStats:
        self.calls.append((version, since, until))
        base = {"requests": 0, "failure_rate": None, "p99_ms": None, "labels": None}
        return VersionStats(version=version, **{**base, **self.figures.get(version, {})})


GOOD = {"requests": 500, "failure_rate": 0.0, "p99_ms": 10.0, "labels": {"No": 0.7, "Yes": 0.3}}


def make_agent(
    automation: AutomationStore,
    registry: Registry,
    clock: Any,
    *,
    retrain: Callable[[], RetrainOutcome],
    metrics: Callable[[float | None], dict] | None = None,
    triggers: list[dict] | None = None,
    canary_alias: str | None = "challenger",
    live: Live | None = None,
    sink: Sink | None = None,
    holder: str = "test-agent",
) -> Agent:
    compiled = compile_triggers(
        [TriggerConfig(**t) for t in triggers or
         [{"name": "drift", "when": "drift.share > 0.3", "action": "retrain"}]],
        default_cooldown="1h",
    )  # fmt: skip
    config = AgentConfig.model_validate(
        {"interval": "1s", "canary": {"min_requests": 100, "min_duration": "10m",
                                      "max_duration": "2h"}}
    )  # fmt: skip
    return Agent(
        model="churn",
        automation=automation,
        registry=registry,
        triggers=compiled,
        metrics=metrics or (lambda window: {"drift.share": 0.5}),
        retrain=retrain,
        alerts=AlertDispatcher(automation, [sink or Sink()], cooldown_s=3600, clock=clock),
        config=config,
        canary_alias=canary_alias,
        canary_traffic=0.1,
        version_stats=live or Live(),
        clock=clock,
        wait=lambda seconds: False,
        holder=holder,
    )


def retrain_registering(registry: Registry, status: str = "challenger", **kw: Any):
    def retrain() -> RetrainOutcome:
        version = register(registry, status=status)
        return RetrainOutcome(version=version, status=status, reason="roc_auc 0.86 vs 0.84",
                              run_id="run2", metrics={"roc_auc": 0.86}, **kw)  # fmt: skip

    return retrain


def actions(automation: AutomationStore) -> list[tuple[str, int | None, int | None]]:
    return [(d.action, d.from_version, d.to_version) for d in automation.list_decisions("churn")]


def test_failed_retrain_is_recorded_alerted_and_the_champion_keeps_serving(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    calls = []

    def retrain() -> RetrainOutcome:
        calls.append(clock())
        raise DataError("collect: source data/churn.csv not found")

    sink = Sink()
    agent = make_agent(automation, registry, clock, retrain=retrain, sink=sink)
    ticks = []

    def on_tick(report: Any) -> None:
        ticks.append(report)
        clock.advance(minutes=1)

    summary = agent.run(max_ticks=3, on_tick=on_tick, handle_signals=False)
    assert summary.ticks == 3 and summary.stopped_by == "max_ticks"
    assert len(calls) == 1  # the trigger's cooldown holds it after the failure
    assert actions(automation) == [("retrain_failed", 1, None)]
    (decision,) = automation.list_decisions("churn")
    assert "collect: source data/churn.csv not found" in decision.reason
    assert decision.reason.endswith("v1 keeps serving")
    assert decision.evidence["triggers"][0]["values"] == {"drift.share": 0.5}
    assert decision.actor == "agent test-agent"
    assert sink.titles() == ["churn: retrain failed"]
    assert sink.alerts[0].severity == "critical"
    assert registry.aliases("churn") == {"champion": 1}
    assert [r.status for r in ticks[1].results] == ["cooldown"]
    assert automation.lock_info("churn") is None
    (firing,) = automation.list_firings("churn")
    assert firing.outcome.startswith("retrain failed: collect")


def test_retrain_canary_wait_then_promote(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    live, sink, snapshot = Live(), Sink(), {"drift.share": 0.5}
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry),
                       live=live, sink=sink, metrics=lambda w: snapshot)  # fmt: skip
    started = clock()
    first = agent.tick()
    assert [d.action for d in first.decisions] == ["retrain", "canary_start"]
    assert registry.aliases("churn") == {"champion": 1, "challenger": 2}
    canary = first.decisions[1]
    assert canary.evidence["canary"]["traffic"] == 0.1 and canary.created_at == started
    assert canary.reason == "v2 on challenger (10% of traffic) against champion v1"

    clock.advance(minutes=5)
    live.figures = {1: GOOD, 2: {**GOOD, "requests": 60}}
    waiting = agent.tick()
    assert waiting.decisions == []
    assert "canary v2: collecting evidence: 60/100 requests, 5m/10m elapsed" in waiting.notes
    clock.advance(hours=1)
    live.figures = {1: GOOD, 2: GOOD}
    snapshot["drift.share"] = 0.1
    done = agent.tick()
    assert [d.action for d in done.decisions] == ["promote"]
    assert registry.aliases("churn") == {"champion": 2}
    assert registry.get("churn", 1).status == "archived"
    promote = done.decisions[0]
    assert promote.reason.startswith("canary passed: passed failure_rate, latency")
    assert promote.evidence["challenger"]["requests"] == 500
    assert promote.evidence["canary"]["elapsed"] == "65m"
    assert {c["name"] for c in promote.evidence["checks"]} >= {"latency", "failure_rate"}
    assert live.calls[-1][1] == started  # figures since the canary started
    assert actions(automation) == [("retrain", 1, 2), ("canary_start", 1, 2), ("promote", 1, 2)]
    assert "churn: v2 promoted to champion" in sink.titles()
    moves = registry.history("churn")
    assert moves[-1].actor == "agent test-agent"


def test_retrain_is_skipped_while_a_canary_runs(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    calls: list[int] = []
    inner = retrain_registering(registry)

    def retrain() -> RetrainOutcome:
        calls.append(1)
        return inner()

    agent = make_agent(automation, registry, clock, retrain=retrain, triggers=[
        {"name": "drift", "when": "drift.share > 0.3", "action": "retrain", "cooldown": "1m"}])  # fmt: skip
    agent.tick()
    clock.advance(minutes=2)
    report = agent.tick()
    assert len(calls) == 1
    assert "retrain (drift) skipped: canary of v2 in progress" in report.notes
    assert automation.list_firings("churn")[0].outcome == "skipped: canary of v2 in progress"


def test_a_bad_canary_is_rolled_back_and_rejected(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    live, sink = Live(), Sink()
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry),
                       canary_alias="canary", live=live, sink=sink)  # fmt: skip
    agent.tick()
    assert registry.aliases("churn") == {"champion": 1, "challenger": 2, "canary": 2}
    clock.advance(minutes=20)
    live.figures = {1: GOOD, 2: {**GOOD, "failure_rate": 0.08}}
    report = agent.tick()
    assert [d.action for d in report.decisions] == ["reject"]
    assert registry.aliases("churn") == {"champion": 1}
    assert registry.get("churn", 2).status == "rejected"
    reason = report.decisions[0].reason
    assert reason.startswith("canary failed: failure rate 8.00% vs champion 0.00%")
    assert "churn: canary v2 rolled back; v1 stays champion" in sink.titles()
    assert agent.actions.active_canary() is None


def test_a_canary_without_evidence_is_rejected_at_max_duration(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    live = Live()
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry),
                       live=live)  # fmt: skip
    agent.tick()
    clock.advance(hours=2)
    live.figures = {2: {**GOOD, "requests": 3}}
    report = agent.tick()
    # the canary is concluded first; the drift still holds, so a new retrain follows
    assert [d.action for d in report.decisions] == ["reject", "retrain", "canary_start"]
    assert "not enough evidence after 2h" in report.decisions[0].reason


def test_without_canary_a_passing_version_is_promoted_directly(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry),
                       canary_alias=None)  # fmt: skip
    report = agent.tick()
    assert [d.action for d in report.decisions] == ["retrain", "promote"]
    assert report.decisions[1].reason.startswith("no serve.canary configured")
    assert registry.aliases("churn") == {"champion": 2}


def test_first_model_is_promoted_without_canary(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry))
    report = agent.tick()
    assert actions(automation) == [("retrain", None, 1), ("promote", None, 1)]
    assert report.decisions[1].reason.startswith("no champion yet")
    assert registry.aliases("churn") == {"champion": 1}


@pytest.mark.parametrize(
    ("status", "reason_start", "final"),
    [
        ("candidate", "v2 not deployed: roc_auc", "candidate"),
        ("rejected", "v2 failed its gates: roc_auc", "rejected"),
    ],
)
def test_versions_that_do_not_qualify_are_not_deployed(
    automation: AutomationStore, registry: Registry, clock, status: str, reason_start: str,
    final: str,
) -> None:  # fmt: skip
    register(registry, status="champion")
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry, status))
    report = agent.tick()
    assert [d.action for d in report.decisions] == ["retrain", "reject"]
    assert report.decisions[1].reason.startswith(reason_start)
    assert registry.aliases("churn") == {"champion": 1}
    assert registry.get("churn", 2).status == final


def test_a_retrain_that_changes_nothing_says_so(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")

    def same() -> RetrainOutcome:
        return RetrainOutcome(version=1, status="champion", reason="already registered", new=False)

    agent = make_agent(automation, registry, clock, retrain=same, triggers=[
        {"name": "drift", "when": "drift.share > 0.3", "action": "retrain", "cooldown": "1m"}])  # fmt: skip
    report = agent.tick()
    assert [(d.action, d.reason) for d in report.decisions] == [
        ("retrain", "no new version: the data and config give v1 again (champion)")
    ]
    assert registry.aliases("churn") == {"champion": 1}
    # the same again: noted, recorded as a firing, but not a new decision
    clock.advance(minutes=2)
    again = agent.tick()
    assert again.decisions == []
    assert again.notes == [
        "retrain: no new version: the data and config give v1 again (champion) "
        "(as at the last retrain)"
    ]
    assert len(automation.list_decisions("churn")) == 1
    assert len(automation.list_firings("churn")) == 2

    def nothing() -> RetrainOutcome:
        return RetrainOutcome(version=None, status="rejected", reason="gates failed", new=False)

    clock.advance(minutes=2)
    agent.actions.retrain_fn = nothing
    assert [d.reason for d in agent.tick().decisions] == ["no new version: gates failed"]


def test_rollback_trigger_moves_the_champion_back(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    register(registry, status="champion")
    sink = Sink()
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry),
                       metrics=lambda w: {"errors.rate": 0.2}, sink=sink,
                       triggers=[{"name": "errors", "when": "errors.rate > 0.05 over 15m",
                                  "action": "rollback"}])  # fmt: skip
    report = agent.tick()
    assert actions(automation) == [("rollback", 2, 1)]
    assert registry.aliases("churn") == {"champion": 1}
    assert report.decisions[0].reason.startswith("trigger errors: errors.rate > 0.05 over 15m")
    assert report.decisions[0].evidence["triggers"][0]["window"] == "15m"
    assert sink.alerts[-1].severity == "critical"
    clock.advance(hours=2)
    again = agent.tick()  # v1 has no previous champion: impossible, said so, nothing moves
    assert again.decisions == [] and registry.aliases("churn") == {"champion": 1}
    assert sink.titles()[-1] == "churn: rollback impossible"
    assert automation.list_firings("churn")[0].outcome.startswith("rollback impossible")


def test_alert_triggers_alert_once_per_cooldown(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    sink = Sink()
    agent = make_agent(automation, registry, clock, retrain=retrain_registering(registry),
                       sink=sink, triggers=[{"name": "latency", "when": "latency.p99_ms > 50",
                                             "action": "alert", "cooldown": "1m"}],
                       metrics=lambda w: {"latency.p99_ms": 80.0})  # fmt: skip
    for _ in range(5):
        agent.tick()
        clock.advance(minutes=2)
    # the trigger fires each tick past its 1m cooldown; the alert cooldown (1h) dedups pages
    assert sink.titles() == ["churn: trigger latency fired"]
    (stored,) = automation.list_alerts("churn")
    assert stored.repeats == 4
    assert [f.outcome for f in automation.list_firings("churn")] == [
        "alert suppressed", "alert suppressed", "alert suppressed", "alert suppressed",
        "alert sent",
    ]  # fmt: skip


def test_another_agent_holding_the_lock_skips_the_retrain(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    assert automation.acquire_lock("churn", holder="other-host:1", ttl_s=3600, now=clock())
    calls: list[int] = []
    agent = make_agent(automation, registry, clock, retrain=lambda: calls.append(1))
    report = agent.tick()
    assert calls == [] and report.decisions == []
    assert report.notes == ["retrain (drift) skipped: other-host:1 holds the lock"]
    assert automation.lock_info("churn").holder == "other-host:1"


def test_metrics_that_fail_are_alerted_and_the_agent_goes_on(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    def broken(window: float | None) -> dict:
        raise DataError("monitor: the window is empty")

    sink = Sink()
    calls: list[int] = []
    agent = make_agent(
        automation, registry, clock, retrain=lambda: calls.append(1), metrics=broken, sink=sink,
        triggers=[{"name": "drift", "when": "drift.share > 0.3", "action": "retrain"},
                  {"name": "hourly", "schedule": "*/30 * * * *", "action": "alert"}],
    )  # fmt: skip
    ticks: list[Any] = []

    def on_tick(report: Any) -> None:
        ticks.append(report)
        clock.advance(minutes=30)

    summary = agent.run(max_ticks=2, on_tick=on_tick, handle_signals=False)
    assert summary.ticks == 2 and summary.last.error is None
    first, second = ticks
    assert first.notes == ["metrics unavailable: monitor: the window is empty"]
    drift = first.results[0]
    assert drift.status == "not_enough_data" and drift.error == "monitor: the window is empty"
    assert drift.reason == "metrics unavailable: monitor: the window is empty"
    # the schedule does not depend on the metrics: it still fires
    assert [r.status for r in second.results] == ["not_enough_data", "fired"]
    assert calls == []
    assert sink.titles() == [
        "churn: the agent cannot compute its metrics",  # once: deduplicated in the cooldown
        "churn: trigger hourly fired",
    ]


def test_an_unexpected_error_in_a_tick_is_survived(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    def buggy(window: float | None) -> dict:
        raise ZeroDivisionError("bug")

    sink = Sink()
    agent = make_agent(automation, registry, clock, retrain=lambda: None, metrics=buggy,
                       sink=sink)  # fmt: skip
    summary = agent.run(max_ticks=3, handle_signals=False)
    assert summary.ticks == 3 and summary.last.error == "ZeroDivisionError: bug"
    assert sink.titles() == ["churn: an agent tick failed"]


def test_check_records_and_alerts_but_takes_no_action(
    automation: AutomationStore, registry: Registry, clock
) -> None:
    register(registry, status="champion")
    calls: list[int] = []
    sink = Sink()
    agent = make_agent(
        automation, registry, clock, retrain=lambda: calls.append(1), sink=sink,
        metrics=lambda w: {"drift.share": 0.5, "performance.accuracy": None},
        triggers=[
            {"name": "drift", "when": "drift.share > 0.3", "action": "retrain"},
            {"name": "drift_alert", "when": "drift.share > 0.3", "action": "alert"},
            {"name": "acc", "when": "performance.accuracy < 0.9 over 7d", "action": "retrain"},
            {"name": "nightly", "schedule": "0 2 * * *", "action": "retrain"},
        ],
    )  # fmt: skip
    dry = agent.check(record=False)
    assert [r.status for r in dry.results] == ["fired", "fired", "not_enough_data", "not_due"]
    assert automation.list_firings("churn") == [] and sink.alerts == []
    assert automation.last_checked("churn") == {}
    report = agent.check()
    assert [r.trigger for r in report.fired] == ["drift", "drift_alert"]
    assert calls == [] and actions(automation) == []
    assert sink.titles() == ["churn: trigger drift_alert fired"]
    outcomes = {f.trigger: f.outcome for f in automation.list_firings("churn")}
    assert outcomes == {
        "drift": "reported by conveyor check; 'retrain' left to the agent",
        "drift_alert": "alert sent",
    }
    assert set(automation.last_checked("churn")) == {"drift", "drift_alert", "acc", "nightly"}
    # the cooldown now applies to the agent too
    assert [r.status for r in agent.check(record=False).results][:2] == ["cooldown", "cooldown"]


def test_the_lock_is_renewed_while_a_long_retrain_runs(
    automation: AutomationStore, registry: Registry
) -> None:
    import time
    from datetime import UTC

    register(registry, status="champion")
    seen: list[Any] = []

    def slow() -> RetrainOutcome:
        first = automation.lock_info("churn")
        time.sleep(2.5)  # past one renewal (every ttl / 3 = 1 s)
        seen.extend([first, automation.lock_info("churn")])
        return RetrainOutcome(version=1, status="champion", reason="same", new=False)

    agent = make_agent(automation, registry, lambda: datetime.now(UTC), retrain=slow)
    agent.config = AgentConfig.model_validate({"interval": "1s", "lock_ttl": "3s"})
    agent.actions.config = agent.config
    agent.tick()
    before, during = seen
    assert before.holder == during.holder == "test-agent"
    assert during.expires_at > before.expires_at  # renewed by the keeper thread
    assert during.acquired_at == before.acquired_at
    assert automation.lock_info("churn") is None
