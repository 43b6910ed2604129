"""Reading a window of the prediction log with Polars, reading only what is needed.

Segments live at ``<root>/<model>/v<version>/<YYYY-MM-DD>/<HH>/part-*.parquet``
(see :mod:`conveyor.stores.prediction_log`), so the model, the versions and the
hours of the window prune whole directories before any file is opened. The
root is a local directory or an object-store URL (through
:class:`~conveyor.stores.prediction_log.LogLocation`). Files with the same
schema are scanned together (one lazy scan per schema), only the wanted
columns are read and the ``ts`` window is pushed down to the Parquet reader.
Segments may disagree on a column's type (an input logged as text in one
hour, as numbers in another): such a column is read as text, so that data
quality can count the values that are not of the signature's type.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from conveyor.stores.prediction_log import FIXED_COLUMNS, LogLocation

__all__ = [
    "LogRoot",
    "LogSpan",
    "count_rows",
    "location_of",
    "log_column",
    "log_files",
    "log_span",
    "read_window",
    "version_of",
]

SHADOW_STATUS = "shadow"
_HOUR = timedelta(hours=1)
LogRoot = str | os.PathLike[str] | LogLocation
"""A prediction log: its directory, its URL, or a :class:`LogLocation`."""


def location_of(root: LogRoot) -> LogLocation:
    """``root`` as a :class:`LogLocation` (a location is returned as it is)."""
    return root if isinstance(root, LogLocation) else LogLocation(root)


def log_column(field: str) -> str:
    """The log column of input ``field`` (``input_<name>`` when it clashes with a fixed column)."""
    return f"input_{field}" if field in FIXED_COLUMNS else field


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _hour_of(path: str) -> datetime | None:
    parts = path.rsplit("/", 3)
    try:
        return datetime.strptime(f"{parts[-3]} {parts[-2]}", "%Y-%m-%d %H")
    except (ValueError, IndexError):  # not a segment directory: ignore it
        return None


def version_of(path: str) -> int:
    """The version number in a segment's path (``…/v3/2026-11-28/14/part-….parquet``)."""
    return int(path.rsplit("/", 4)[-4][1:])


def log_files(
    root: LogRoot,
    model: str,
    *,
    versions: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """Segments of ``model`` (of ``versions``) whose hour overlaps ``[start, end)``."""
    location = location_of(root)
    patterns = (
        [f"{model}/v{int(v)}/*/*/part-*.parquet" for v in versions]
        if versions is not None
        else [f"{model}/v*/*/*/part-*.parquet"]
    )
    lo = _utc(start).replace(tzinfo=None) if start is not None else None
    hi = _utc(end).replace(tzinfo=None) if end is not None else None
    files: list[str] = []
    for pattern in patterns:
        for path in location.glob(pattern):
            hour = _hour_of(path)
            if hour is None or not path.rsplit("/", 4)[-4][1:].isdigit():
                continue
            if (lo is not None and hour + _HOUR <= lo) or (hi is not None and hour >= hi):
                continue
            files.append(path)
    return files


@dataclass(frozen=True)
class LogSpan:
    """What the log holds for a model: the first and last hour with segments, and the versions."""

    first_hour: datetime
    last_hour: datetime
    versions: list[int]


def log_span(root: LogRoot, model: str) -> LogSpan | None:
    """The hours and versions of ``model`` in the log, from segment paths alone (no file read)."""
    files = log_files(root, model)
    hours = [h.replace(tzinfo=UTC) for h in map(_hour_of, files) if h is not None]
    if not hours:
        return None
    return LogSpan(min(hours), max(hours), sorted({version_of(f) for f in files}))


def _window(start: datetime | None, end: datetime | None) -> pl.Expr | None:
    parts = []
    if start is not None:
        parts.append(pl.col("ts") >= _utc(start))
    if end is not None:
        parts.append(pl.col("ts") < _utc(end))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0] & parts[1]


def _unified(dtypes: list[pl.DataType]) -> pl.DataType:
    kinds = {d for d in dtypes if d != pl.Null}
    if not kinds:
        return pl.String()
    if len(kinds) == 1:
        return next(iter(kinds))
    if all(d.is_integer() for d in kinds):
        return pl.Int64()
    if all(d.is_numeric() for d in kinds):
        return pl.Float64()
    return pl.String()


def _scans(
    location: LogLocation,
    files: Sequence[str],
    columns: Sequence[str],
    window: pl.Expr | None,
) -> Iterator[tuple[pl.LazyFrame, pl.Schema]]:
    by_schema: dict[tuple[tuple[str, str], ...], tuple[pl.Schema, list[str]]] = {}
    for path in files:
        schema = location.schema(path)
        key = tuple((name, str(dtype)) for name, dtype in schema.items())
        by_schema.setdefault(key, (schema, []))[1].append(path)
    for schema, paths in by_schema.values():
        frame = location.scan(paths)
        if window is not None:
            frame = frame.filter(window)  # pushed down into the Parquet reader
        yield frame.select([c for c in columns if c in schema]), schema


def read_window(
    root: LogRoot,
    model: str,
    *,
    columns: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    versions: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Rows of ``model`` logged in ``[start, end)``, with exactly ``columns``.

    A column no segment has comes back as all-null text; a column whose type differs
    between segments comes back as text (or Int64/Float64 when all are numbers).
    """
    location = location_of(root)
    files = log_files(location, model, versions=versions, start=start, end=end)
    wanted = list(dict.fromkeys(columns))
    if not files:
        return pl.DataFrame(schema={c: _EMPTY.get(c, pl.String()) for c in wanted})
    scans = list(_scans(location, files, wanted, _window(start, end)))
    target = {
        c: _EMPTY[c] if c in _EMPTY else _unified([s[c] for _, s in scans if c in s])
        for c in wanted
    }
    frames = [
        frame.select(
            [
                pl.col(c).cast(target[c], strict=False)
                if c in schema
                else pl.lit(None, dtype=target[c]).alias(c)
                for c in wanted
            ]
        )
        for frame, schema in scans
    ]
    return pl.concat(frames, how="vertical", rechunk=False).collect()


def count_rows(
    root: LogRoot,
    model: str,
    *,
    start: datetime | None,
    end: datetime | None,
    versions: Sequence[int] | None = None,
) -> int:
    """Predictions (shadow rows excluded) of ``model`` logged in ``[start, end)``."""
    location = location_of(root)
    files = log_files(location, model, versions=versions, start=start, end=end)
    if not files:
        return 0
    frames = [
        frame.filter(pl.col("status") != SHADOW_STATUS).select(pl.len())
        for frame, _ in _scans(location, files, ["ts", "status"], _window(start, end))
    ]
    return int(pl.concat(frames).collect()["len"].sum())


_EMPTY: dict[str, pl.DataType] = {
    "prediction_id": pl.String(),
    "model": pl.String(),
    "version": pl.Int64(),
    "ts": pl.Datetime("us", "UTC"),
    "probabilities": pl.String(),
    "latency_ms": pl.Float64(),
    "fallback": pl.Boolean(),
    "status": pl.String(),
}
