"""The agent's bookkeeping on one model: firings, decisions, alerts, the lock, promotion.

Every action that moves an alias runs under the model's agent lock, records a
decision with its evidence, and sends an alert, whatever the outcome.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.automate.alerts import Alert, AlertDispatcher, AlertOutcome, Severity
from conveyor.automate.evaluation import TriggerResult
from conveyor.config._monitoring import AgentConfig, parse_duration
from conveyor.errors import NotFound

if TYPE_CHECKING:
    from conveyor.automate._records import DecisionRecord
    from conveyor.automate.agent import TickReport
    from conveyor.automate.store import AutomationStore
    from conveyor.registry import Registry

__all__ = ["CHAMPION", "LoopBase"]

log = logging.getLogger("conveyor.agent")

CHAMPION = "champion"


class LoopBase:
    """What every action of the agent on one model needs."""

    def __init__(
        self,
        *,
        model: str,
        automation: AutomationStore,
        registry: Registry,
        alerts: AlertDispatcher,
        config: AgentConfig,
        canary_alias: str | None,
        canary_traffic: float | None,
        clock: Callable[[], datetime],
        holder: str,
    ) -> None:
        self.model = model
        self.automation = automation
        self.registry = registry
        self.alerts = alerts
        self.config = config
        self.canary_alias = canary_alias
        self.canary_traffic = canary_traffic
        self.clock = clock
        self.holder = holder
        self.actor = f"agent {holder}"

    # ------------------------------------------------------------ bookkeeping

    def record_firing(self, result: TriggerResult, outcome: str) -> None:
        self.automation.record_firing(
            model=self.model,
            trigger=result.trigger,
            fired_at=result.evaluated_at,
            action=result.action,
            evidence=result.evidence(),
            outcome=outcome,
        )

    def decide(
        self,
        report: TickReport,
        action: str,
        *,
        from_version: int | None,
        to_version: int | None,
        reason: str,
        evidence: Mapping[str, Any],
    ) -> DecisionRecord:
        record = self.automation.record_decision(
            model=self.model,
            action=action,
            from_version=from_version,
            to_version=to_version,
            evidence=evidence,
            reason=reason,
            created_at=self.clock(),
            actor=self.actor,
        )
        report.decisions.append(record)
        log.info("%s: %s (v%s -> v%s): %s", self.model, action, from_version, to_version, reason)
        return record

    def alert(
        self,
        report: TickReport,
        key: str,
        title: str,
        message: str,
        severity: Severity,
        evidence: Mapping[str, Any],
    ) -> AlertOutcome:
        outcome = self.alerts.send(
            Alert(
                model=self.model,
                key=f"{self.model}:{key}",
                title=f"{self.model}: {title}",
                message=message,
                severity=severity,
                evidence=evidence,
            )
        )
        report.alerts.append(outcome)
        return outcome

    def trigger_alert(self, result: TriggerResult) -> AlertOutcome:
        return self.alerts.send(
            Alert(
                model=self.model,
                key=f"{self.model}:trigger:{result.trigger}",
                title=f"{self.model}: trigger {result.trigger} fired",
                message=result.reason,
                severity="warning",
                evidence=result.evidence(),
            )
        )

    @contextmanager
    def locked(self) -> Iterator[bool]:
        """Hold the model's agent lock for the block (renewed while it runs); yields
        False, holding nothing, when another agent has it."""
        ttl = parse_duration(self.config.lock_ttl)
        if not self.automation.acquire_lock(
            self.model, holder=self.holder, ttl_s=ttl, now=self.clock()
        ):
            yield False
            return
        done = threading.Event()

        def renew() -> None:
            while not done.wait(min(ttl / 3, 60.0)):
                try:
                    self.automation.acquire_lock(
                        self.model, holder=self.holder, ttl_s=ttl, now=self.clock()
                    )
                except Exception:  # the next renewal tries again; expiry is the safety net
                    log.exception("renewing the agent lock failed")

        keeper = threading.Thread(target=renew, name="agent-lock", daemon=True)
        keeper.start()
        try:
            yield True
        finally:
            done.set()
            keeper.join()
            self.automation.release_lock(self.model, holder=self.holder)

    def _lock_holder(self) -> str:
        info = self.automation.lock_info(self.model)
        return info.holder if info is not None else "another agent"

    def _aliases(self) -> dict[str, int]:
        try:
            return self.registry.aliases(self.model)
        except NotFound:
            return {}

    def _promote(
        self,
        report: TickReport,
        version: int,
        champion: int | None,
        reason: str,
        evidence: Mapping[str, Any],
    ) -> None:
        self.registry.promote(self.model, version, reason=reason, actor=self.actor)
        if self.canary_alias and self._aliases().get(self.canary_alias) == version:
            self.registry.remove_alias(
                self.model,
                self.canary_alias,
                reason=f"v{version} became the champion",
                actor=self.actor,
            )
        self.decide(
            report,
            "promote",
            from_version=champion,
            to_version=version,
            reason=reason,
            evidence=evidence,
        )
        self.alert(
            report,
            f"decision:promote:v{version}",
            f"v{version} promoted to champion",
            reason,
            "info",
            evidence,
        )
