"""Model registry: versions, tags, aliases and alias history.

Revision ID: 0002_registry
Revises: 0001_initial
Create Date: 2026-11-28

Types are spelled out here (not imported from ``registry/_tables``) so this
file keeps describing the schema it created.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_registry"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("dataset_version", sa.String(64), nullable=True),
        sa.Column("config_fingerprint", sa.String(128), nullable=True),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("bundle_digest", sa.String(64), nullable=False),
        sa.Column("manifest_digest", sa.String(64), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("gates", JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model_name", "version", name="uq_model_versions_model_name_version"),
        sa.CheckConstraint(
            "status IN ('candidate', 'rejected', 'challenger', 'champion', 'archived')",
            name="ck_model_versions_status",
        ),
    )
    op.create_index(
        "ix_model_versions_model_name_status", "model_versions", ["model_name", "status"]
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_bundle_digest", "model_versions", ["bundle_digest"])

    op.create_table(
        "model_version_tags",
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("model_version_id", "key", name="pk_model_version_tags"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_model_version_tags_model_version_id_model_versions",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "model_aliases",
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("model_name", "alias", name="pk_model_aliases"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_model_aliases_model_version_id_model_versions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_model_aliases_model_version_id", "model_aliases", ["model_version_id"])

    op.create_table(
        "model_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_alias_history"),
        sa.CheckConstraint(
            "action IN ('set', 'promote', 'rollback', 'remove')",
            name="ck_model_alias_history_action",
        ),
    )
    op.create_index(
        "ix_model_alias_history_model_name_alias_id",
        "model_alias_history",
        ["model_name", "alias", "id"],
    )


def downgrade() -> None:
    op.drop_table("model_alias_history")
    op.drop_table("model_aliases")
    op.drop_table("model_version_tags")
    op.drop_table("model_versions")
