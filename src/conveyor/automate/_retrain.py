"""The agent's rollback and retrain actions, and what it does with a retrained version."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.automate._canary_watch import CanaryActions
from conveyor.automate._loop import CHAMPION
from conveyor.automate.alerts import Severity
from conveyor.automate.canary import VersionStats
from conveyor.automate.evaluation import TriggerResult
from conveyor.errors import ConveyorError, NotFound

if TYPE_CHECKING:
    from conveyor.automate._records import DecisionRecord
    from conveyor.automate.agent import TickReport

__all__ = ["LoopActions", "RetrainOutcome"]

log = logging.getLogger("conveyor.agent")


@dataclass(frozen=True)
class RetrainOutcome:
    """What one retrain registered.

    Attributes:
        version: the version the run registered (or found registered already).
        status: its registry status: ``challenger`` (passed its gates and beat
            the champion on the new test split), ``candidate`` (passed, did
            not beat it), ``rejected`` (failed its gates) or ``champion``.
        reason: the promotion rule's sentence.
        run_id: the pipeline run.
        new: False when the run produced a bundle already registered (nothing changed).
        metrics: the new version's evaluation metrics.
    """

    version: int | None
    status: str
    reason: str
    run_id: str | None = None
    new: bool = True
    metrics: Mapping[str, Any] = field(default_factory=dict)


class LoopActions(CanaryActions):
    """Every action of the agent on one model (see :class:`~conveyor.automate.agent.Agent`)."""

    def __init__(
        self,
        *,
        retrain: Callable[[], RetrainOutcome],
        version_stats: Callable[[int, datetime, datetime], VersionStats] | None = None,
        min_labels: int = 30,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        self.retrain_fn = retrain
        self.version_stats = version_stats
        self.min_labels = min_labels

    def rollback(self, fired: Sequence[TriggerResult], report: TickReport) -> None:
        evidence = {"triggers": [r.evidence() for r in fired]}
        names = ", ".join(r.trigger for r in fired)
        with self.locked() as held:
            if not held:
                text = f"skipped: {self._lock_holder()} holds the lock"
                for result in fired:
                    self.record_firing(result, text)
                return
            current = self._aliases().get(CHAMPION)
            reason = f"trigger {names}: " + "; ".join(r.reason for r in fired)
            try:
                target = self.registry.rollback(self.model, reason=reason, actor=self.actor)
            except NotFound as exc:
                for result in fired:
                    self.record_firing(result, f"rollback impossible: {exc.headline}")
                self.alert(
                    report,
                    "rollback:impossible",
                    "rollback impossible",
                    exc.headline,
                    "critical",
                    evidence,
                )
                return
            self._decide_on_firings(
                report,
                fired,
                "rollback",
                f"rolled back v{current} -> v{target.version}",
                from_version=current,
                to_version=target.version,
                reason=reason,
                evidence=evidence,
            )
            self.alert(
                report,
                f"decision:rollback:v{current}",
                f"champion rolled back from v{current} to v{target.version}",
                reason,
                "critical",
                evidence,
            )

    # ------------------------------------------------------------ retrain

    def retrain(self, fired: Sequence[TriggerResult], report: TickReport) -> None:
        names = ", ".join(r.trigger for r in fired)
        canary = self.active_canary()
        if canary is not None:
            for result in fired:
                self.record_firing(result, f"skipped: canary of v{canary[0]} in progress")
            report.notes.append(f"retrain ({names}) skipped: canary of v{canary[0]} in progress")
            return
        with self.locked() as held:
            if not held:
                text = f"skipped: {self._lock_holder()} holds the lock"
                for result in fired:
                    self.record_firing(result, text)
                report.notes.append(f"retrain ({names}) {text}")
                return
            self._retrain_locked(fired, report)

    def _retrain_locked(self, fired: Sequence[TriggerResult], report: TickReport) -> None:
        champion = self._aliases().get(CHAMPION)
        evidence: dict[str, Any] = {"triggers": [r.evidence() for r in fired]}
        started = self.clock()
        log.info("%s: retraining (%s)", self.model, ", ".join(r.trigger for r in fired))
        try:
            outcome = self.retrain_fn()
        except KeyboardInterrupt:
            self._retrain_failed(
                report,
                fired,
                champion,
                evidence,
                "interrupted (agent stopping)",
                severity="warning",
            )
            raise
        except Exception as exc:
            text = (
                exc.headline if isinstance(exc, ConveyorError) else f"{type(exc).__name__}: {exc}"
            )
            self._retrain_failed(report, fired, champion, evidence, text, severity="critical")
            return
        evidence.update(
            run_id=outcome.run_id,
            duration_s=round((self.clock() - started).total_seconds(), 3),
            version={
                "version": outcome.version,
                "status": outcome.status,
                "rule": outcome.reason,
                "metrics": dict(outcome.metrics),
            },
        )
        version = outcome.version
        if version is None or not outcome.new:
            self._nothing_new(report, fired, outcome, champion, evidence)
            return
        retrained = self._decide_on_firings(
            report,
            fired,
            "retrain",
            f"retrained v{version} ({outcome.status})",
            from_version=champion,
            to_version=version,
            reason=f"retrained v{version} ({outcome.status}): {outcome.reason}",
            evidence=evidence,
        )
        # What follows refers to the retrain decision instead of repeating its evidence.
        brief = {
            "retrain_decision": retrained.id,
            "run_id": outcome.run_id,
            "triggers": [r.trigger for r in fired],
            "version": {"version": version, "status": outcome.status, "rule": outcome.reason},
        }
        self._deploy(report, outcome, version, champion, brief)

    def _nothing_new(
        self,
        report: TickReport,
        fired: Sequence[TriggerResult],
        outcome: RetrainOutcome,
        champion: int | None,
        evidence: dict[str, Any],
    ) -> None:
        """The run registered nothing: say so once, not on every firing that follows."""
        if outcome.version is None:
            reason = f"no new version: {outcome.reason}"
        else:
            reason = (
                f"no new version: the data and config give v{outcome.version} again "
                f"({outcome.status})"
            )
        last = self.automation.list_decisions(self.model, limit=1)
        repeated = bool(last) and (last[0].action, last[0].reason) == ("retrain", reason)
        if not repeated:
            self.decide(
                report,
                "retrain",
                from_version=champion,
                to_version=outcome.version,
                reason=reason,
                evidence=evidence,
            )
        else:
            report.notes.append(f"retrain: {reason} (as at the last retrain)")
        for result in fired:
            self.record_firing(result, f"retrained; {reason}")

    def _retrain_failed(
        self,
        report: TickReport,
        fired: Sequence[TriggerResult],
        champion: int | None,
        evidence: dict[str, Any],
        text: str,
        *,
        severity: Severity,
    ) -> None:
        evidence = {**evidence, "error": text}
        kept = f"v{champion} keeps serving" if champion is not None else "no champion"
        self._decide_on_firings(
            report,
            fired,
            "retrain_failed",
            f"retrain failed: {text}",
            from_version=champion,
            to_version=None,
            reason=f"retrain failed: {text}; {kept}",
            evidence=evidence,
        )
        self.alert(
            report, "retrain_failed", "retrain failed", f"{text}\n{kept}", severity, evidence
        )

    def _deploy(
        self,
        report: TickReport,
        outcome: RetrainOutcome,
        version: int,
        champion: int | None,
        evidence: dict[str, Any],
    ) -> None:
        announce = functools.partial(
            self._decide_and_alert, report, version=version, champion=champion, evidence=evidence
        )
        if outcome.status == "rejected":
            announce(
                "reject",
                f"v{version} failed its gates: {outcome.reason}",
                f"retrained v{version} rejected",
                "warning",
            )
            return
        if outcome.status == "candidate" and champion is not None:
            announce(
                "reject",
                f"v{version} not deployed: {outcome.reason}",
                f"retrained v{version} does not beat v{champion}",
                "info",
            )
            return
        if champion is None or outcome.status == CHAMPION or self.canary_alias is None:
            why = (
                "no champion yet"
                if champion is None
                else "no serve.canary configured: promoted after its gates"
                if self.canary_alias is None
                else "registered as champion"
            )
            if outcome.status == CHAMPION and self._aliases().get(CHAMPION) == version:
                announce(
                    "promote",
                    f"{why}: {outcome.reason}",
                    f"v{version} promoted to champion",
                    "info",
                    message=outcome.reason,
                )
                return
            self._promote(report, version, champion, f"{why}; {outcome.reason}", evidence)
            return
        self.registry.set_alias(
            self.model,
            self.canary_alias,
            version,
            reason=f"canary: {outcome.reason}",
            actor=self.actor,
        )
        canary = self.config.canary
        evidence = {
            **evidence,
            "canary": {
                "alias": self.canary_alias,
                "traffic": self.canary_traffic,
                "min_requests": canary.min_requests,
                "min_duration": canary.min_duration,
                "max_duration": canary.max_duration,
            },
        }
        reason = (
            f"v{version} on {self.canary_alias} "
            f"({_share(self.canary_traffic)} of traffic) against champion v{champion}"
        )
        # evidence=: this decision's evidence also names the canary.
        announce("canary_start", reason, f"canary of v{version} started", "info", evidence=evidence)

    def _decide_on_firings(
        self,
        report: TickReport,
        fired: Sequence[TriggerResult],
        action: str,
        firing: str,
        **decision: Any,
    ) -> DecisionRecord:
        """:meth:`decide` ``action`` (``decision``: its keywords), then record each trigger
        of ``fired`` with the outcome ``firing``."""
        record = self.decide(report, action, **decision)
        for result in fired:
            self.record_firing(result, firing)
        return record

    def _decide_and_alert(
        self,
        report: TickReport,
        action: str,
        reason: str,
        title: str,
        severity: Severity,
        *,
        version: int,
        champion: int | None,
        evidence: Mapping[str, Any],
        message: str | None = None,
    ) -> None:
        """Record the decision ``action`` about ``version`` and alert ``decision:<action>:v<N>``
        with ``message`` (default: the decision's reason)."""
        self.decide(
            report,
            action,
            from_version=champion,
            to_version=version,
            reason=reason,
            evidence=evidence,
        )
        self.alert(
            report,
            f"decision:{action}:v{version}",
            title,
            reason if message is None else message,
            severity,
            evidence,
        )


def _share(traffic: float | None) -> str:
    return "?" if traffic is None else f"{traffic:.0%}"
