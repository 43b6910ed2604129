"""``conveyor agent``: watch, retrain, canary, promote or roll back — and say why.

An :class:`Agent` is handed everything it works with (the metric provider,
the retrain operation, the registry, the alert dispatcher, a clock), so it
runs the same under the CLI, from Python and in tests with a fake clock.

Each :meth:`Agent.tick`:

1. watches a canary in progress (:mod:`conveyor.automate.canary`): promote,
   roll back, or keep waiting;
2. evaluates every trigger (:mod:`conveyor.automate.evaluation`) and records
   those that fired;
3. acts: ``alert`` sends an alert; ``rollback`` moves the champion back to the
   previous champion; ``retrain`` runs the retrain operation under the model's
   lock, then starts a canary for a version that passed its gates and beat the
   champion on the new test split (or promotes it directly without
   ``serve.canary``), or records why not. A retrain that fails is recorded
   (``retrain_failed``) and alerted; the champion keeps serving.

Every decision is stored with its evidence (:meth:`AutomationStore.list_decisions`).

Example:
    >>> agent = Agent(model="churn", automation=automation, registry=registry,
    ...               triggers=triggers, metrics=provider, retrain=retrain,
    ...               alerts=dispatcher, config=AgentConfig())  # doctest: +SKIP
    >>> report = agent.tick()  # doctest: +SKIP
    >>> agent.run(max_ticks=10)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from conveyor.automate._retrain import LoopActions, RetrainOutcome
from conveyor.automate.alerts import Alert, AlertDispatcher, AlertOutcome
from conveyor.automate.evaluation import TriggerResult, evaluate_triggers
from conveyor.config._monitoring import AgentConfig, parse_duration

if TYPE_CHECKING:
    from conveyor.automate._records import DecisionRecord
    from conveyor.automate.canary import VersionStats
    from conveyor.automate.store import AutomationStore
    from conveyor.automate.triggers import MetricsProvider, Trigger
    from conveyor.registry import Registry

__all__ = ["Agent", "AgentStopped", "CheckReport", "RetrainOutcome", "RunSummary", "TickReport"]

log = logging.getLogger("conveyor.agent")

Clock = Callable[[], datetime]
VersionStatsProvider = Callable[[int, datetime, datetime], "VersionStats"]


class AgentStopped(Exception):
    """A stop was requested while the agent was busy (the step was abandoned cleanly).

    Attributes:
        report: what the interrupted tick had done until then.
    """

    def __init__(self, message: str, report: TickReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class TickReport:
    """What one tick saw and did."""

    at: datetime
    results: list[TriggerResult] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    alerts: list[AlertOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def fired(self) -> list[TriggerResult]:
        return [r for r in self.results if r.fired]


@dataclass(frozen=True)
class CheckReport:
    """``conveyor check``: every trigger evaluated once, and the alerts it sent."""

    at: datetime
    results: list[TriggerResult]
    alerts: list[AlertOutcome]
    recorded: bool

    @property
    def fired(self) -> list[TriggerResult]:
        return [r for r in self.results if r.fired]


@dataclass(frozen=True)
class RunSummary:
    """How :meth:`Agent.run` ended.

    Attributes:
        stopped_by: ``max_ticks``, ``signal`` (SIGTERM/SIGINT), or ``stop``
            (:meth:`Agent.request_stop`, or ``wait`` returned True).
    """

    ticks: int
    stopped_by: str
    last: TickReport | None


def _default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Agent:
    """The closed loop for one model (see the module docstring).

    Args:
        model: the registered model name.
        automation: alert, firing, decision and lock storage.
        registry: the model registry (aliases are moved here).
        triggers: compiled triggers.
        metrics: window in seconds -> metric snapshot (usually ``conveyor monitor``).
        retrain: runs the pipeline once and says what it registered; it must
            not move the champion itself.
        alerts: where alerts go.
        config: the ``agent`` section (interval, canary rules, lock ttl).
        canary_alias: ``serve.canary.alias``; None promotes directly after the gates.
        canary_traffic: ``serve.canary.traffic`` (recorded as evidence).
        version_stats: ``(version, since, until) -> VersionStats`` for the canary.
        min_labels: fewest labels behind a live performance comparison.
        default_window_s: the window of conditions without ``over`` (``monitor.window``;
            None lets the metric provider choose).
        clock: the current time (timezone-aware UTC).
        wait: ``wait(seconds)`` between ticks; returns True to stop early.
        holder: this agent's lock holder id (default: host, pid and a random part).
    """

    def __init__(
        self,
        *,
        model: str,
        automation: AutomationStore,
        registry: Registry,
        triggers: Sequence[Trigger],
        metrics: MetricsProvider,
        retrain: Callable[[], RetrainOutcome],
        alerts: AlertDispatcher,
        config: AgentConfig | None = None,
        canary_alias: str | None = None,
        canary_traffic: float | None = None,
        version_stats: VersionStatsProvider | None = None,
        min_labels: int = 30,
        default_window_s: float | None = None,
        clock: Clock | None = None,
        wait: Callable[[float], bool] | None = None,
        holder: str | None = None,
    ) -> None:
        self.model = model
        self.automation = automation
        self.registry = registry
        self.triggers = list(triggers)
        self.metrics = metrics
        self.default_window_s = default_window_s
        self.alerts = alerts
        self.config = config or AgentConfig()
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.holder = holder or _default_holder()
        self._stop = threading.Event()
        self._signalled = False
        self._wait = wait or self._stop.wait
        self.actions = LoopActions(
            model=model,
            automation=automation,
            registry=registry,
            alerts=alerts,
            config=self.config,
            canary_alias=canary_alias,
            canary_traffic=canary_traffic,
            clock=self.clock,
            holder=self.holder,
            retrain=retrain,
            version_stats=version_stats,
            min_labels=min_labels,
        )

    # ------------------------------------------------------------ one evaluation

    def check(self, *, record: bool = True) -> CheckReport:
        """Evaluate every trigger once and take no action (``conveyor check``).

        With ``record`` (the default) fired triggers are recorded (so their
        cooldown applies to the agent too), schedules are anchored, and
        ``alert`` triggers send their alert; without it nothing is written or sent.
        """
        now = self.clock()
        results = self._evaluate(now, record=record)
        outcomes: list[AlertOutcome] = []
        if record:
            for result in results:
                if not result.fired:
                    continue
                if result.action == "alert":
                    outcome = self.actions.trigger_alert(result)
                    outcomes.append(outcome)
                    text = f"alert {outcome.status}"
                else:
                    text = f"reported by conveyor check; '{result.action}' left to the agent"
                self.actions.record_firing(result, text)
        return CheckReport(now, results, outcomes, record)

    def _evaluate(self, now: datetime, *, record: bool) -> list[TriggerResult]:
        results = evaluate_triggers(
            self.triggers,
            self.metrics,
            now=now,
            last_fired=self.automation.last_fired(self.model),
            last_checked=self.automation.last_checked(self.model),
            default_window_s=self.default_window_s,
        )
        if record:
            self.automation.mark_checked(self.model, [t.name for t in self.triggers], at=now)
        return results

    # ------------------------------------------------------------ the loop

    def tick(self) -> TickReport:
        """Watch the canary, evaluate the triggers, act on those that fired.

        Raises:
            AgentStopped: a stop was requested (second signal) during a retrain,
                which was abandoned, recorded and its lock released.
        """
        report = TickReport(at=self.clock())
        self.actions.watch_canary(report)
        results = self._evaluate(report.at, record=True)
        errors = sorted({r.error for r in results if r.error})
        if errors:
            report.notes.append("metrics unavailable: " + "; ".join(errors))
            report.alerts.append(
                self.alerts.send(
                    Alert(
                        model=self.model,
                        key=f"{self.model}:agent:metrics",
                        title=f"{self.model}: the agent cannot compute its metrics",
                        message="\n".join(errors),
                        severity="warning",
                        evidence={"errors": errors},
                    )
                )
            )
        report.results = results
        fired = [r for r in results if r.fired]
        for result in fired:
            if result.action == "alert":
                outcome = self.actions.trigger_alert(result)
                report.alerts.append(outcome)
                self.actions.record_firing(result, f"alert {outcome.status}")
        rollbacks = [r for r in fired if r.action == "rollback"]
        if rollbacks:
            self.actions.rollback(rollbacks, report)
        retrains = [r for r in fired if r.action == "retrain"]
        if retrains:
            try:
                self.actions.retrain(retrains, report)
            except KeyboardInterrupt:  # a second signal, or SIGTERM inside the pipeline run
                self._signalled = True
                self._stop.set()
                raise AgentStopped("stopped during a retrain", report) from None
        return report

    def run(
        self,
        *,
        max_ticks: int | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
        handle_signals: bool = True,
    ) -> RunSummary:
        """Tick every ``agent.interval`` until stopped (or ``max_ticks`` ticks).

        SIGTERM and SIGINT (when called in the main thread with
        ``handle_signals``) stop the loop after the current step; a second
        signal abandons a retrain in progress (SIGTERM reaches the pipeline at
        once: the run is recorded as interrupted). The lock is always released.
        A tick that fails is logged and alerted, and the loop goes on.
        """
        interval = parse_duration(self.config.interval)
        restore = self._install_signals() if handle_signals else None
        ticks, last, stopped_by = 0, None, "stop"
        try:
            while not self._stop.is_set():
                try:
                    last = self.tick()
                except AgentStopped as exc:
                    last = exc.report
                except Exception as exc:  # survive: the champion keeps serving
                    log.exception("agent tick failed")
                    last = TickReport(at=self.clock(), error=f"{type(exc).__name__}: {exc}")
                    self._alert_tick_failure(exc, last)
                ticks += 1
                if on_tick is not None and last is not None:
                    on_tick(last)
                if self._stop.is_set():
                    break
                if max_ticks is not None and ticks >= max_ticks:
                    stopped_by = "max_ticks"
                    break
                if self._wait(interval):
                    break
        finally:
            if restore is not None:
                restore()
            try:
                self.automation.release_lock(self.model, holder=self.holder)
            except Exception:  # the store may be what failed; the lock then expires
                log.exception("releasing the agent lock failed")
        if self._stop.is_set():
            stopped_by = "signal" if self._signalled else "stop"
        return RunSummary(ticks=ticks, stopped_by=stopped_by, last=last)

    def request_stop(self) -> None:
        """Stop after the current step (what the first SIGTERM/SIGINT does)."""
        self._stop.set()

    def _alert_tick_failure(self, exc: Exception, report: TickReport) -> None:
        try:
            report.alerts.append(
                self.alerts.send(
                    Alert(
                        model=self.model,
                        key=f"{self.model}:agent:error:{type(exc).__name__}",
                        title=f"{self.model}: an agent tick failed",
                        message=f"{type(exc).__name__}: {exc}",
                        severity="critical",
                        evidence={"error": f"{type(exc).__name__}: {exc}"},
                    )
                )
            )
        except Exception:  # the store itself may be what failed
            log.exception("could not alert about the failed tick")

    def _install_signals(self) -> Callable[[], None] | None:
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, _frame: Any) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt(f"signal {signum}")
            log.info("signal %d: stopping after the current step", signum)
            self._signalled = True
            self._stop.set()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore
