"""Automation: alerts, trigger firings and state, agent decisions, agent locks.

Revision ID: 0005_automation
Revises: 0004_monitoring
Create Date: 2026-12-01

Types are spelled out here (not imported from ``automate/_tables``) so this
file keeps describing the schema it created.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_automation"
down_revision: str | Sequence[str] | None = "0004_monitoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("title", sa.String(400), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("delivered", sa.Text, nullable=False),
        sa.Column("failed", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.CheckConstraint(
            "status IN ('sent', 'partial', 'failed', 'recorded')", name="ck_alerts_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_model_created_at", "alerts", ["model", "created_at"])
    op.create_index("ix_alerts_key_created_at", "alerts", ["key", "created_at"])

    op.create_table(
        "trigger_firings",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("fired_at", TIMESTAMP, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trigger_firings"),
    )
    op.create_index(
        "ix_trigger_firings_model_trigger_fired_at",
        "trigger_firings",
        ["model", "trigger", "fired_at"],
    )

    op.create_table(
        "trigger_state",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("checked_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("model", "trigger", name="pk_trigger_state"),
    )

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.CheckConstraint(
            "action IN ('retrain', 'canary_start', 'promote', 'rollback', 'reject', "
            "'retrain_failed')",
            name="ck_decisions_action",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_model_id", "decisions", ["model", "id"])

    op.create_table(
        "agent_locks",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("model", name="pk_agent_locks"),
    )


def downgrade() -> None:
    op.drop_table("agent_locks")
    op.drop_table("decisions")
    op.drop_table("trigger_state")
    op.drop_table("trigger_firings")
    op.drop_table("alerts")
