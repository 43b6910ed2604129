"""Monitoring: monitor runs and their metrics as time series.

Revision ID: 0004_monitoring
Revises: 0003_serving
Create Date: 2026-11-29

Types are spelled out here (not imported from ``monitor/_tables``) so this
file keeps describing the schema it created.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_monitoring"
down_revision: str | Sequence[str] | None = "0003_serving"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("versions", sa.Text, nullable=False),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("n_predictions", sa.Integer, nullable=False),
        sa.Column("n_labelled", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_runs"),
    )
    op.create_index("ix_monitor_runs_model_window_end", "monitor_runs", ["model", "window_end"])
    op.create_table(
        "monitor_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("monitor_run_id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("window_end", TIMESTAMP, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("column", sa.String(200), nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_metrics"),
        sa.ForeignKeyConstraint(
            ["monitor_run_id"],
            ["monitor_runs.id"],
            name="fk_monitor_metrics_monitor_run_id_monitor_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_monitor_metrics_model_name_window_end",
        "monitor_metrics",
        ["model", "name", "window_end"],
    )
    op.create_index("ix_monitor_metrics_monitor_run_id", "monitor_metrics", ["monitor_run_id"])


def downgrade() -> None:
    op.drop_table("monitor_metrics")
    op.drop_table("monitor_runs")
