"""Deployments: running servers' heartbeats, and fleet-wide serving settings.

Revision ID: 0006_deployments
Revises: 0005_automation
Create Date: 2026-11-29

Types are spelled out here (not imported from ``stores/_deployment_tables``) so
this file keeps describing the schema it created.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_deployments"
down_revision: str | Sequence[str] | None = "0005_automation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("server_id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_ref", sa.String(300), nullable=False),
        sa.Column("champion_version", sa.Integer, nullable=True),
        sa.Column("challenger_version", sa.Integer, nullable=True),
        sa.Column("canary_traffic", sa.Float, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.Column("stats", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("server_id", name="pk_deployments"),
    )
    op.create_index("ix_deployments_model_last_seen", "deployments", ["model", "last_seen"])
    op.create_table(
        "serving_settings",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("model", "key", name="pk_serving_settings"),
    )


def downgrade() -> None:
    op.drop_table("serving_settings")
    op.drop_index("ix_deployments_model_last_seen", table_name="deployments")
    op.drop_table("deployments")
