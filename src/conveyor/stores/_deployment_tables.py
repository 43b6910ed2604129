"""The ``deployments`` and ``serving_settings`` tables, on the store's shared metadata.

``stores/migrations/versions/0006_deployments.py`` creates exactly these
tables; a test compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa

from conveyor.stores._tables import UTCDateTime, metadata

__all__ = ["deployments", "serving_settings"]

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("server_id", sa.String(64), primary_key=True, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("address", sa.String(300), nullable=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("model_ref", sa.String(300), nullable=False),
    sa.Column("champion_version", sa.Integer, nullable=True),
    sa.Column("challenger_version", sa.Integer, nullable=True),
    sa.Column("canary_traffic", sa.Float, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    # JSON text: request rate, latency percentiles, error and fallback rates, ...
    sa.Column("stats", sa.Text, nullable=False),
    sa.Index(None, "model", "last_seen"),
)

serving_settings = sa.Table(
    "serving_settings",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True, nullable=False),
    sa.Column("key", sa.String(100), primary_key=True, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
)
