"""Monitoring tables, defined on the metadata store's shared :data:`metadata`.

``stores/migrations/versions/0004_monitoring.py`` creates exactly these; a test
compares the two.

- ``monitor_runs``: one row per ``conveyor monitor`` run (model, window, counts,
  and the whole result as JSON text in ``summary``).
- ``monitor_metrics``: the time series, one row per figure of a run: the flat
  snapshot (``version`` and ``column`` null), per-version figures (``version``
  set) and per-column figures (``column`` set). Indexed by
  ``(model, name, window_end)`` for "this metric over time" queries.
"""

from __future__ import annotations

import sqlalchemy as sa

from conveyor.stores._tables import UTCDateTime, metadata

__all__ = ["monitor_metrics", "monitor_runs"]

monitor_runs = sa.Table(
    "monitor_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False),
    # JSON text: the versions whose predictions were in the window, e.g. "[3, 4]".
    sa.Column("versions", sa.Text, nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("n_predictions", sa.Integer, nullable=False),
    sa.Column("n_labelled", sa.Integer, nullable=False),
    # JSON text of MonitorResult.to_dict() (text, not JSON: it round-trips byte for byte).
    sa.Column("summary", sa.Text, nullable=False),
    sa.Index(None, "model", "window_end"),
)

monitor_metrics = sa.Table(
    "monitor_metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "monitor_run_id",
        sa.ForeignKey("monitor_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("column", sa.String(200), nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Index(None, "model", "name", "window_end"),
    sa.Index(None, "monitor_run_id"),
)
