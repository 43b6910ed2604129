"""Automation tables, defined on the metadata store's shared :data:`metadata`.

``stores/migrations/versions/0005_automation.py`` creates exactly these; a test
compares the two. Evidence and sink results are JSON text (not a JSON column)
so they read back byte for byte on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import sqlalchemy as sa

from conveyor.stores._tables import UTCDateTime, metadata

__all__ = [
    "DECISION_ACTIONS",
    "agent_locks",
    "alerts",
    "decisions",
    "trigger_firings",
    "trigger_state",
]

DECISION_ACTIONS = ("retrain", "canary_start", "promote", "rollback", "reject", "retrain_failed")

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("title", sa.String(400), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("repeats", sa.Integer, nullable=False),
    sa.Column("delivered", sa.Text, nullable=False),
    sa.Column("failed", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.CheckConstraint("status IN ('sent', 'partial', 'failed', 'recorded')", name="status"),
    sa.Index(None, "model", "created_at"),
    sa.Index(None, "key", "created_at"),
)

trigger_firings = sa.Table(
    "trigger_firings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("fired_at", UTCDateTime, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Index(None, "model", "trigger", "fired_at"),
)

trigger_state = sa.Table(
    "trigger_state",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True, nullable=False),
    sa.Column("trigger", sa.String(200), primary_key=True, nullable=False),
    sa.Column("checked_at", UTCDateTime, nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.CheckConstraint(
        "action IN ('retrain', 'canary_start', 'promote', 'rollback', 'reject', 'retrain_failed')",
        name="action",
    ),
    sa.Index(None, "model", "id"),
)

agent_locks = sa.Table(
    "agent_locks",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True, nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)
