"""The ``feedback`` table (ground truth per prediction), on the store's shared metadata.

``stores/migrations/versions/0003_serving.py`` creates exactly this table; a
test compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa

from conveyor.stores._tables import UTCDateTime, metadata

__all__ = ["feedback"]

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("prediction_id", sa.String(200), primary_key=True, nullable=False),
    sa.Column("model", sa.String(200), nullable=True),
    # JSON text (not a JSON column) so any label type round-trips and compares
    # byte for byte on every dialect.
    sa.Column("actual", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Index(None, "model", "received_at"),
)
