"""Serving: ground-truth feedback joined to logged predictions.

Revision ID: 0003_serving
Revises: 0002_registry
Create Date: 2026-11-28

Types are spelled out here (not imported from ``stores/_feedback_tables``) so
this file keeps describing the schema it created.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_serving"
down_revision: str | Sequence[str] | None = "0002_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("prediction_id", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("actual", sa.Text, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_model_received_at", "feedback", ["model", "received_at"])


def downgrade() -> None:
    op.drop_table("feedback")
