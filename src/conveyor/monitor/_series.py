"""Monitor results in the metadata store, and the time-series queries over them.

Example:
    >>> run_id = save_monitor_run(store, result)  # doctest: +SKIP
    >>> [p.value for p in metric_series(store, "churn", "drift.share")]  # doctest: +SKIP
    [0.05, 0.1, 0.45]
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.monitor._tables import monitor_metrics, monitor_runs

if TYPE_CHECKING:
    from conveyor.stores.metadata import MetadataStore

__all__ = [
    "MetricPoint",
    "MetricRow",
    "MonitorRunRecord",
    "list_monitor_runs",
    "metric_points",
    "metric_series",
    "save_monitor_run",
]


@dataclass(frozen=True)
class MetricRow:
    """One figure to store: ``name`` = ``value`` (for a version and/or a column, or overall)."""

    name: str
    value: float | None
    version: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    """One stored figure of one monitor run, at the end of its window."""

    window_end: datetime
    name: str
    value: float | None
    version: int | None
    column: str | None
    monitor_run_id: str


@dataclass(frozen=True)
class MonitorRunRecord:
    """One stored monitor run (``summary`` is the whole result as a dict)."""

    id: str
    model: str
    versions: list[int]
    window_start: datetime
    window_end: datetime
    created_at: datetime
    n_predictions: int
    n_labelled: int
    summary: dict[str, Any]


def save_monitor_run(
    store: MetadataStore,
    *,
    model: str,
    versions: Sequence[int],
    window_start: datetime,
    window_end: datetime,
    n_predictions: int,
    n_labelled: int,
    summary: dict[str, Any],
    rows: Iterable[MetricRow],
) -> str:
    """Store a run and its figures in one transaction; returns the run id."""
    run_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    run = {
        "id": run_id,
        "model": model,
        "versions": json.dumps([int(v) for v in versions]),
        "window_start": window_start,
        "window_end": window_end,
        "created_at": now,
        "n_predictions": int(n_predictions),
        "n_labelled": int(n_labelled),
        "summary": json.dumps(summary, allow_nan=False, sort_keys=True),
    }
    metrics = [
        {
            "monitor_run_id": run_id,
            "model": model,
            "version": row.version,
            "window_end": window_end,
            "name": row.name,
            "column": row.column,
            "value": row.value,
        }
        for row in rows
    ]

    def write(conn: sa.Connection) -> None:
        conn.execute(sa.insert(monitor_runs), [run])
        if metrics:
            conn.execute(sa.insert(monitor_metrics), metrics)

    store.transaction(write)
    return run_id


def _read(store: MetadataStore, query: sa.Select[Any]) -> list[Any]:
    def read() -> list[Any]:
        with store.connect() as conn:
            return conn.execute(query).all()

    return store.retrying(read)


def _point(row: Any) -> MetricPoint:
    return MetricPoint(
        window_end=row.window_end,
        name=row.name,
        value=row.value,
        version=row.version,
        column=row.column,
        monitor_run_id=row.monitor_run_id,
    )


def metric_series(
    store: MetadataStore,
    model: str,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    column: str | None = None,
) -> list[MetricPoint]:
    """One figure of ``model`` over time, oldest window first.

    Args:
        store: the metadata store.
        model: the model name.
        name: a snapshot name (``drift.share``, ``performance.accuracy``, …) or a
            per-column name (``drift.statistic``, ``drift.drifted``, ``data.null_rate``).
        since: only windows ending at or after this time.
        until: only windows ending before this time.
        version: the figure of this version (default: the overall figure).
        column: the figure of this input column (default: not a per-column figure).

    Example:
        >>> metric_series(store, "churn", "performance.accuracy", since=week_ago)  # doctest: +SKIP
        [MetricPoint(window_end=..., name='performance.accuracy', value=0.91, ...), ...]
    """
    t = monitor_metrics.c
    query = sa.select(monitor_metrics).where(t.model == model, t.name == name)
    query = query.where(t.version.is_(None) if version is None else t.version == int(version))
    query = query.where(t.column.is_(None) if column is None else t.column == column)
    if since is not None:
        query = query.where(t.window_end >= since)
    if until is not None:
        query = query.where(t.window_end < until)
    return [_point(r) for r in _read(store, query.order_by(t.window_end, t.id))]


def metric_points(
    store: MetadataStore,
    model: str,
    *,
    names: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[MetricPoint]:
    """Every stored figure of ``model`` (optionally only ``names``), oldest window first.

    Unlike :func:`metric_series` this returns per-version and per-column figures
    too, for plotting a family of series at once.
    """
    t = monitor_metrics.c
    query = sa.select(monitor_metrics).where(t.model == model)
    if names is not None:
        query = query.where(t.name.in_(list(names)))
    if since is not None:
        query = query.where(t.window_end >= since)
    if until is not None:
        query = query.where(t.window_end < until)
    return [_point(r) for r in _read(store, query.order_by(t.window_end, t.id))]


def list_monitor_runs(
    store: MetadataStore, model: str | None = None, *, limit: int = 20
) -> list[MonitorRunRecord]:
    """The latest stored monitor runs (of ``model``), newest window first."""
    t = monitor_runs.c
    query = sa.select(monitor_runs).order_by(t.window_end.desc(), t.created_at.desc())
    if model is not None:
        query = query.where(t.model == model)
    return [
        MonitorRunRecord(
            id=r.id,
            model=r.model,
            versions=json.loads(r.versions),
            window_start=r.window_start,
            window_end=r.window_end,
            created_at=r.created_at,
            n_predictions=r.n_predictions,
            n_labelled=r.n_labelled,
            summary=json.loads(r.summary),
        )
        for r in _read(store, query.limit(int(limit)))
    ]
