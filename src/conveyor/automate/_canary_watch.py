"""Watching a canary the agent started: promote the challenger or roll it back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.automate._loop import CHAMPION, LoopBase
from conveyor.automate.canary import VersionStats, decide_canary
from conveyor.automate.evaluation import format_elapsed

if TYPE_CHECKING:
    from conveyor.automate._records import DecisionRecord
    from conveyor.automate.agent import TickReport

__all__ = ["CanaryActions"]

_CLOSING = ("promote", "reject", "rollback")


class CanaryActions(LoopBase):
    """Finds the canary in progress from the decisions, and concludes it when the rule says."""

    version_stats: Callable[[int, datetime, datetime], VersionStats] | None
    min_labels: int

    def active_canary(self) -> tuple[int, DecisionRecord] | None:
        """The challenger version the agent started a canary for, still under way."""
        if self.canary_alias is None:
            return None
        version = self._aliases().get(self.canary_alias)
        if version is None:
            return None
        for record in reversed(self.automation.list_decisions(self.model, limit=200)):
            if record.to_version != version:
                continue
            if record.action in _CLOSING:
                return None
            if record.action == "canary_start":
                return version, record
        return None  # the alias was set by hand: not the agent's to decide

    def watch_canary(self, report: TickReport) -> None:
        active = self.active_canary()
        if active is None or self.version_stats is None:
            return
        version, started = active
        now = self.clock()
        champion = self._aliases().get(CHAMPION)
        champ_stats = (
            self.version_stats(champion, started.created_at, now) if champion is not None else None
        )
        stats = self.version_stats(version, started.created_at, now)
        elapsed = (now - started.created_at).total_seconds()
        verdict = decide_canary(
            champ_stats,
            stats,
            config=self.config.canary,
            elapsed_s=elapsed,
            min_labels=self.min_labels,
        )
        if verdict.action == "wait":
            report.notes.append(f"canary v{version}: {verdict.reason}")
            return
        evidence = {
            "canary": {
                "alias": self.canary_alias,
                "traffic": self.canary_traffic,
                "started_at": started.created_at.isoformat(),
                "elapsed": format_elapsed(elapsed),
                "rules": self.config.canary.model_dump(mode="json"),
            },
            "champion": champ_stats.evidence() if champ_stats else None,
            "challenger": stats.evidence(),
            **verdict.evidence(),
        }
        with self.locked() as held:
            if not held:
                report.notes.append(f"canary v{version}: {self._lock_holder()} holds the lock")
                return
            if verdict.action == "promote":
                self._promote(
                    report, version, champion, f"canary passed: {verdict.reason}", evidence
                )
            else:
                self._reject_canary(report, version, champion, verdict.reason, evidence)

    def _reject_canary(
        self,
        report: TickReport,
        version: int,
        champion: int | None,
        reason: str,
        evidence: Mapping[str, Any],
    ) -> None:
        assert self.canary_alias is not None
        why = f"canary failed: {reason}"
        if self._aliases().get(self.canary_alias) == version:
            self.registry.remove_alias(self.model, self.canary_alias, reason=why, actor=self.actor)
        self.registry.set_status(self.model, version, "rejected", reason=why, actor=self.actor)
        self.decide(
            report,
            "reject",
            from_version=champion,
            to_version=version,
            reason=why,
            evidence=evidence,
        )
        self.alert(
            report,
            f"decision:reject:v{version}",
            f"canary v{version} rolled back; v{champion} stays champion",
            why,
            "warning",
            evidence,
        )
