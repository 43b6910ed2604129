"""Monitoring series for the charts, read and (when long) aggregated in SQL.

The monitor stores one row per figure per window (``monitor_metrics``). A month
of hourly windows over 20 features is ~30,000 rows: the heat map reads them
grouped by day once there are more windows than :data:`MAX_WINDOWS`, and every
read selects only the columns a chart needs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from conveyor.monitor._tables import monitor_metrics

__all__ = ["MAX_WINDOWS", "DriftCells", "drift_cells", "overall_series"]

MAX_WINDOWS = 168
_t = monitor_metrics.c


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite text, read without the column type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def overall_series(
    conn: sa.Connection, model: str, names: Sequence[str], *, since: datetime
) -> dict[str, tuple[list[str], list[float | None]]]:
    """``name -> (window ends as ISO text, values)`` of the overall figures (no version or column).

    Text, not datetimes: Plotly copies its inputs, and copying thousands of
    datetime objects costs more than the query.
    """
    rows = conn.execute(
        sa.select(_t.name, _t.window_end, _t.value)
        .where(
            _t.model == model,
            _t.name.in_(list(names)),
            _t.version.is_(None),
            _t.column.is_(None),
            _t.window_end >= since,
        )
        .order_by(_t.window_end, _t.id)
    )
    out: dict[str, tuple[list[str], list[float | None]]] = defaultdict(lambda: ([], []))
    for name, window_end, value in rows:
        xs, ys = out[name]
        xs.append(_aware(window_end).astimezone(UTC).isoformat(timespec="seconds"))
        ys.append(value)
    return dict(out)


class DriftCells:
    """Per feature and time cell: the largest drift statistic and whether it drifted."""

    def __init__(
        self, labels: list[str], columns: list[str], statistic: Any, drifted: Any, by_day: bool
    ) -> None:
        self.labels = labels
        self.columns = columns
        self.statistic = statistic
        self.drifted = drifted
        self.by_day = by_day


def _day(dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", _t.window_end), "YYYY-MM-DD")
    return sa.func.substr(sa.cast(_t.window_end, sa.String), 1, 10)


def drift_cells(
    conn: sa.Connection, model: str, *, since: datetime, max_columns: int
) -> DriftCells | None:
    """The heat map's cells: one per window, or per UTC day beyond :data:`MAX_WINDOWS` windows."""
    import numpy as np

    names = ("drift.statistic", "drift.drifted")
    where = (
        _t.model == model,
        _t.name.in_(names),
        _t.column.is_not(None),
        _t.version.is_(None),
        _t.window_end >= since,
    )
    windows = conn.execute(
        sa.select(sa.func.count(sa.distinct(_t.window_end))).where(*where)
    ).scalar_one()
    if not windows:
        return None
    by_day = windows > MAX_WINDOWS
    if by_day:
        cell = _day(conn.dialect.name).label("cell")
        rows = conn.execute(
            sa.select(_t.column, cell, _t.name, sa.func.max(_t.value))
            .where(*where)
            .group_by(_t.column, cell, _t.name)
        ).all()
        labels = sorted({r[1] for r in rows})
    else:
        raw = conn.execute(sa.select(_t.column, _t.window_end, _t.name, _t.value).where(*where))
        rows = [(c, _aware(w).astimezone(UTC).strftime("%m-%d %H:%M"), n, v) for c, w, n, v in raw]
        labels = sorted({r[1] for r in rows})
    drifted_count: dict[str, float] = defaultdict(float)
    for column, _, name, value in rows:
        if name == "drift.drifted" and value:
            drifted_count[column] += 1
    columns = sorted({r[0] for r in rows}, key=lambda c: (-drifted_count[c], c))[:max_columns]
    col_index = {c: i for i, c in enumerate(columns)}
    cell_index = {label: i for i, label in enumerate(labels)}
    statistic = np.full((len(columns), len(labels)), np.nan)
    drifted = np.full((len(columns), len(labels)), np.nan)
    for column, label, name, value in rows:
        i = col_index.get(column)
        if i is None or value is None:
            continue
        target = statistic if name == "drift.statistic" else drifted
        target[i, cell_index[label]] = value
    return DriftCells(labels, columns, statistic, drifted, by_day)
