"""Registry tables, defined on the metadata store's shared :data:`metadata`.

``stores/migrations/versions/0002_registry.py`` creates exactly these; a test
compares the two. Columns ending in ``_digest`` are protected from artifact
garbage collection by the store's naming convention.
"""

from __future__ import annotations

import sqlalchemy as sa

from conveyor.stores._tables import JSONDocument, UTCDateTime, metadata

__all__ = [
    "MODEL_STATUSES",
    "model_alias_history",
    "model_aliases",
    "model_version_tags",
    "model_versions",
]

MODEL_STATUSES = ("candidate", "rejected", "challenger", "champion", "archived")

model_versions = sa.Table(
    "model_versions",
    metadata,
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
    sa.Column("metrics", JSONDocument, nullable=False),
    sa.Column("gates", JSONDocument, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("model_name", "version"),
    sa.CheckConstraint(
        "status IN ('candidate', 'rejected', 'challenger', 'champion', 'archived')", name="status"
    ),
    sa.Index(None, "model_name", "status"),
    sa.Index(None, "run_id"),
    sa.Index(None, "bundle_digest"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column(
        "model_version_id",
        sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
        nullable=False,
    ),
    sa.Column("key", sa.String(200), primary_key=True, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_name", sa.String(200), primary_key=True, nullable=False),
    sa.Column("alias", sa.String(64), primary_key=True, nullable=False),
    sa.Column(
        "model_version_id", sa.ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "model_version_id"),
)

model_alias_history = sa.Table(
    "model_alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.CheckConstraint("action IN ('set', 'promote', 'rollback', 'remove')", name="action"),
    sa.Index(None, "model_name", "alias", "id"),
)
