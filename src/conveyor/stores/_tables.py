"""The metadata schema as SQLAlchemy Core tables (the migrations are the source of truth).

``versions/0001_initial.py`` creates exactly these tables; a unit test compares
the two, so a change here without a migration fails the suite. Later modules
(the registry, monitoring) define their own tables on :data:`metadata` and add
their own migration files.

Conventions every table follows, relied on by :meth:`MetadataStore.referenced_digests`:
a column named ``digest`` or ending in ``_digest`` holds an artifact sha256 that
must survive garbage collection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "JSONDocument",
    "UTCDateTime",
    "artifacts",
    "dataset_versions",
    "metadata",
    "projects",
    "runs",
    "step_artifacts",
    "steps",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware.

    SQLite has no time zone type, so values are stored as naive UTC there and
    tagged with UTC on the way out; PostgreSQL uses ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("config", JSONDocument, nullable=False),
    sa.Column("config_fingerprint", sa.String(128), nullable=False),
    sa.Column("code_version", sa.String(200), nullable=True),
    sa.Column("command", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("summary", JSONDocument, nullable=False),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("parent_run_id", sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    sa.Index(None, "project_id", "started_at"),
    sa.Index(None, "started_at"),
    sa.Index(None, "status", "host"),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("cached", sa.Boolean, nullable=False),
    sa.Column("rows_in", sa.BigInteger, nullable=True),
    sa.Column("rows_out", sa.BigInteger, nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("metrics", JSONDocument, nullable=False),
    sa.Column("notes", JSONDocument, nullable=False),
    sa.Column("warnings", JSONDocument, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Index(None, "run_id", "position"),
    sa.Index(None, "fingerprint", "status"),
)

step_artifacts = sa.Table(
    "step_artifacts",
    metadata,
    sa.Column(
        "step_id", sa.ForeignKey("steps.id", ondelete="CASCADE"), primary_key=True, nullable=False
    ),
    sa.Column("direction", sa.String(6), primary_key=True, nullable=False),
    sa.Column("name", sa.String(200), primary_key=True, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.CheckConstraint("direction IN ('input', 'output')", name="direction"),
    sa.Index(None, "digest"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("columns", sa.Integer, nullable=False),
    sa.Column("schema", JSONDocument, nullable=False),
    sa.Column("source", JSONDocument, nullable=False),
    sa.Column("run_id", sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("project_id", "version"),
    sa.UniqueConstraint("project_id", "digest"),
    sa.Index(None, "digest"),
)
