"""Initial schema: projects, runs, steps, step artifacts, artifacts, dataset versions.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-28

Types are spelled out here (not imported from ``_tables``) so this file keeps
describing the schema it created even after the tables module moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("name", name="uq_projects_name"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(12), nullable=False),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("config_fingerprint", sa.String(128), nullable=False),
        sa.Column("code_version", sa.String(200), nullable=True),
        sa.Column("command", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("parent_run_id", sa.String(12), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_runs_project_id_projects", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_run_id"], ["runs.id"], name="fk_runs_parent_run_id_runs", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_runs_project_id_started_at", "runs", ["project_id", "started_at"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_status_host", "runs", ["status", "host"])

    op.create_table(
        "steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("rows_in", sa.BigInteger, nullable=True),
        sa.Column("rows_out", sa.BigInteger, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("notes", JSON, nullable=False),
        sa.Column("warnings", JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_steps_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_steps_run_id_position", "steps", ["run_id", "position"])
    op.create_index("ix_steps_fingerprint_status", "steps", ["fingerprint", "status"])

    op.create_table(
        "step_artifacts",
        sa.Column("step_id", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(6), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("step_id", "direction", "name", name="pk_step_artifacts"),
        sa.ForeignKeyConstraint(
            ["step_id"], ["steps.id"], name="fk_step_artifacts_step_id_steps", ondelete="CASCADE"
        ),
        sa.CheckConstraint("direction IN ('input', 'output')", name="ck_step_artifacts_direction"),
    )
    op.create_index("ix_step_artifacts_digest", "step_artifacts", ["digest"])

    op.create_table(
        "artifacts",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_artifacts"),
    )

    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("columns", sa.Integer, nullable=False),
        sa.Column("schema", JSON, nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("run_id", sa.String(12), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_dataset_versions_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_dataset_versions_run_id_runs", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("project_id", "version", name="uq_dataset_versions_project_id_version"),
        sa.UniqueConstraint("project_id", "digest", name="uq_dataset_versions_project_id_digest"),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])


def downgrade() -> None:
    op.drop_table("dataset_versions")
    op.drop_table("artifacts")
    op.drop_table("step_artifacts")
    op.drop_table("steps")
    op.drop_table("runs")
    op.drop_table("projects")
