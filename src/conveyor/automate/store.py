"""Where the automation remembers things: alerts, firings, trigger state, decisions, locks.

One class, :class:`AutomationStore`, over a :class:`~conveyor.stores.MetadataStore`.
Each method is one short transaction (retried on lock conflicts, like every
store call). The agent lock is taken atomically on SQLite and PostgreSQL
alike: one ``INSERT … ON CONFLICT DO UPDATE … WHERE expired`` statement either
creates the lock, takes over an expired one, or changes nothing (held).

Example:
    >>> automation = AutomationStore(MetadataStore("sqlite:///.conveyor/conveyor.db"))  # doctest: +SKIP
    >>> automation.acquire_lock("churn", holder="host:42", ttl_s=7200)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.automate._records import AlertRecord, DecisionRecord, FiringRecord, LockInfo
from conveyor.automate._tables import (
    DECISION_ACTIONS,
    agent_locks,
    alerts,
    decisions,
    trigger_firings,
    trigger_state,
)
from conveyor.stores._row_records import record_from_row

if TYPE_CHECKING:
    from conveyor.stores.metadata import MetadataStore

__all__ = ["AutomationStore", "jsonable", "to_json"]

_EVIDENCE = ("evidence",)  # the JSON column of firings and decisions


def to_json(value: Any) -> str:
    """Compact JSON text of evidence: NaN/inf become null, numpy scalars plain numbers."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), default=str)


def jsonable(value: Any) -> Any:
    """Plain JSON data: NaN/inf to None, numpy scalars to numbers, datetimes to ISO text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class AutomationStore:
    """Alerts, trigger firings and state, decisions and agent locks in the metadata store.

    Args:
        store: the project's metadata store (its migrations create the tables).
    """

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def _read(self, fn: Any) -> Any:
        def attempt() -> Any:
            with self.store.connect() as conn:
                return fn(conn)

        return self.store.retrying(attempt)

    # ------------------------------------------------------------ alerts

    def last_sent_alert(self, key: str) -> AlertRecord | None:
        """The newest alert with ``key`` that reached at least one sink (or had none to reach)."""
        query = (
            sa.select(alerts)
            .where(alerts.c.key == key, alerts.c.status.in_(("sent", "partial", "recorded")))
            .order_by(alerts.c.id.desc())
            .limit(1)
        )
        row = self._read(lambda conn: conn.execute(query).first())
        return None if row is None else _alert(row)

    def record_alert(
        self,
        *,
        model: str,
        key: str,
        severity: str,
        title: str,
        message: str,
        evidence: Mapping[str, Any],
        created_at: datetime,
        delivered: Sequence[str],
        failed: Sequence[Mapping[str, Any]],
        status: str,
    ) -> int:
        """Store a sent (or undeliverable) alert; returns its id."""
        values = {
            "model": model,
            "key": key[:400],
            "severity": severity,
            "title": title[:400],
            "message": message,
            "evidence": to_json(evidence),
            "created_at": created_at,
            "last_seen_at": created_at,
            "repeats": 0,
            "delivered": to_json(list(delivered)),
            "failed": to_json([dict(f) for f in failed]),
            "status": status,
        }
        return self.store.transaction(
            lambda conn: conn.execute(alerts.insert().values(values)).inserted_primary_key[0]
        )

    def repeat_alert(self, alert_id: int, *, seen_at: datetime) -> None:
        """Count one more occurrence of an alert that stayed quiet (inside its cooldown)."""
        self.store.transaction(
            lambda conn: conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id)
                .values(repeats=alerts.c.repeats + 1, last_seen_at=seen_at)
            )
        )

    def list_alerts(self, model: str | None = None, *, limit: int = 100) -> list[AlertRecord]:
        """Alerts, newest first."""
        query = sa.select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(alerts.c.model == model)
        return [_alert(r) for r in self._read(lambda conn: conn.execute(query).all())]

    # ------------------------------------------------------------ triggers

    def record_firing(
        self,
        *,
        model: str,
        trigger: str,
        fired_at: datetime,
        action: str,
        evidence: Mapping[str, Any],
        outcome: str,
    ) -> int:
        """Store that ``trigger`` fired, with its evidence and what came of it."""
        values = {
            "model": model,
            "trigger": trigger,
            "fired_at": fired_at,
            "action": action,
            "evidence": to_json(evidence),
            "outcome": outcome,
        }
        return self.store.transaction(
            lambda conn: conn.execute(trigger_firings.insert().values(values)).inserted_primary_key[
                0
            ]
        )

    def list_firings(
        self, model: str, *, trigger: str | None = None, limit: int = 100
    ) -> list[FiringRecord]:
        """Firings of ``model`` (optionally one trigger), newest first."""
        t = trigger_firings
        query = sa.select(t).where(t.c.model == model).order_by(t.c.id.desc()).limit(limit)
        if trigger is not None:
            query = query.where(t.c.trigger == trigger)
        return [
            record_from_row(FiringRecord, r, json_fields=_EVIDENCE)
            for r in self._read(lambda conn: conn.execute(query).all())
        ]

    def last_fired(self, model: str) -> dict[str, datetime]:
        """Trigger name -> when it last fired."""
        t = trigger_firings
        query = (
            sa.select(t.c.trigger, sa.func.max(t.c.fired_at, type_=t.c.fired_at.type))
            .where(t.c.model == model)
            .group_by(t.c.trigger)
        )
        rows = self._read(lambda conn: conn.execute(query).all())
        return {name: moment for name, moment in rows if moment is not None}

    def last_checked(self, model: str) -> dict[str, datetime]:
        """Trigger name -> when it was last evaluated (the anchor of its schedule)."""
        query = sa.select(trigger_state).where(trigger_state.c.model == model)
        rows = self._read(lambda conn: conn.execute(query).all())
        return {r.trigger: r.checked_at for r in rows}

    def mark_checked(self, model: str, triggers: Sequence[str], *, at: datetime) -> None:
        """Record that ``triggers`` were evaluated at ``at`` (an upsert per trigger)."""
        if not triggers:
            return
        dialect = self.store.dialect
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(trigger_state).values(
            [{"model": model, "trigger": name, "checked_at": at} for name in triggers]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[trigger_state.c.model, trigger_state.c.trigger],
            set_={"checked_at": stmt.excluded.checked_at},
        )
        self.store.transaction(lambda conn: conn.execute(stmt))

    # ------------------------------------------------------------ decisions

    def record_decision(
        self,
        *,
        model: str,
        action: str,
        from_version: int | None,
        to_version: int | None,
        evidence: Mapping[str, Any],
        reason: str,
        created_at: datetime,
        actor: str,
    ) -> DecisionRecord:
        """Store one decision of the closed loop.

        Raises:
            ValueError: ``action`` is not one of the decision actions.
        """
        if action not in DECISION_ACTIONS:
            raise ValueError(f"decision action {action!r} is not one of {DECISION_ACTIONS}")
        values = {
            "model": model,
            "action": action,
            "from_version": from_version,
            "to_version": to_version,
            "evidence": to_json(evidence),
            "reason": reason,
            "created_at": created_at,
            "actor": actor[:200],
        }
        new_id = self.store.transaction(
            lambda conn: conn.execute(decisions.insert().values(values)).inserted_primary_key[0]
        )
        return DecisionRecord(id=new_id, **{**values, "evidence": json.loads(values["evidence"])})

    def list_decisions(
        self, model: str, *, limit: int | None = None, actions: Sequence[str] | None = None
    ) -> list[DecisionRecord]:
        """Decisions about ``model``, oldest first (the newest ``limit`` when given)."""
        d = decisions
        query = sa.select(d).where(d.c.model == model).order_by(d.c.id.desc())
        if actions:
            query = query.where(d.c.action.in_(list(actions)))
        if limit is not None:
            query = query.limit(limit)
        rows = self._read(lambda conn: conn.execute(query).all())
        return [_decision(r) for r in reversed(rows)]

    # ------------------------------------------------------------ locks

    def acquire_lock(self, model: str, *, holder: str, ttl_s: float, now: datetime) -> bool:
        """Take (or renew) the agent lock of ``model`` for ``ttl_s`` seconds.

        Atomic: an ``INSERT … ON CONFLICT DO UPDATE`` whose update only applies
        when the lock has expired or is already ``holder``'s. Two processes
        racing for a free lock cannot both get it.

        Returns:
            True when ``holder`` now holds the lock.
        """
        if ttl_s <= 0:
            raise ValueError(f"lock ttl must be positive, got {ttl_s}")
        expires = now + timedelta(seconds=ttl_s)
        if self.store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(agent_locks).values(
            model=model, holder=holder, acquired_at=now, expires_at=expires
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[agent_locks.c.model],
            set_={
                "holder": stmt.excluded.holder,
                # Renewing keeps the time it was first taken.
                "acquired_at": sa.case(
                    (agent_locks.c.holder == stmt.excluded.holder, agent_locks.c.acquired_at),
                    else_=stmt.excluded.acquired_at,
                ),
                "expires_at": stmt.excluded.expires_at,
            },
            where=sa.or_(
                agent_locks.c.expires_at <= sa.literal(now, agent_locks.c.expires_at.type),
                agent_locks.c.holder == stmt.excluded.holder,
            ),
        ).returning(agent_locks.c.holder)
        got = self.store.transaction(lambda conn: conn.execute(stmt).first())
        return got is not None and got[0] == holder

    def release_lock(self, model: str, *, holder: str) -> bool:
        """Give the lock up; returns False when ``holder`` did not hold it (nothing changes)."""
        stmt = agent_locks.delete().where(
            agent_locks.c.model == model, agent_locks.c.holder == holder
        )
        return bool(self.store.transaction(lambda conn: conn.execute(stmt).rowcount))

    def lock_info(self, model: str) -> LockInfo | None:
        """The current lock of ``model`` (possibly expired), or None."""
        query = sa.select(agent_locks).where(agent_locks.c.model == model)
        row = self._read(lambda conn: conn.execute(query).first())
        return None if row is None else record_from_row(LockInfo, row)


def _alert(row: Any) -> AlertRecord:
    return record_from_row(AlertRecord, row, json_fields=("evidence", "delivered", "failed"))


def _decision(row: Any) -> DecisionRecord:
    return record_from_row(DecisionRecord, row, json_fields=_EVIDENCE)
