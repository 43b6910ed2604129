"""Immutable records of what the automation did: alerts, trigger firings, decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["AlertRecord", "DecisionAction", "DecisionRecord", "FiringRecord", "LockInfo"]

DecisionAction = Literal[
    "retrain", "canary_start", "promote", "rollback", "reject", "retrain_failed"
]


@dataclass(frozen=True)
class AlertRecord:
    """One alert as stored: what was said, where it went, and how often it repeated.

    Attributes:
        status: ``sent`` (every sink took it), ``partial``, ``failed`` (no sink
            took it) or ``recorded`` (no sinks configured).
        repeats: how many times the same alert (same ``key``) came again inside
            the cooldown and was not sent again.
        delivered: labels of the sinks that took it.
        failed: ``{"sink", "error", "attempts"}`` per sink that did not.
    """

    id: int
    model: str
    key: str
    severity: str
    title: str
    message: str
    evidence: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    repeats: int
    delivered: list[str]
    failed: list[dict[str, Any]]
    status: str


@dataclass(frozen=True)
class FiringRecord:
    """A trigger that fired, the action it asked for and what came of it."""

    id: int
    model: str
    trigger: str
    fired_at: datetime
    action: str
    evidence: dict[str, Any]
    outcome: str


@dataclass(frozen=True)
class DecisionRecord:
    """One decision of the closed loop, with the evidence it was taken on.

    Attributes:
        action: retrain | canary_start | promote | rollback | reject | retrain_failed.
        from_version: the champion when the decision was taken (None: none).
        to_version: the version the decision is about (the new champion of a
            promote or rollback, the retrained or rejected version).
        evidence: metrics, thresholds, windows and versions behind it.
        actor: ``agent`` (with its holder id), ``check`` or ``user``.
    """

    id: int
    model: str
    action: str
    from_version: int | None
    to_version: int | None
    evidence: dict[str, Any]
    reason: str
    created_at: datetime
    actor: str


@dataclass(frozen=True)
class LockInfo:
    """Who holds a model's agent lock, and until when."""

    model: str
    holder: str
    acquired_at: datetime
    expires_at: datetime
