"""Traffic figures from the prediction log: counts, latency percentiles, error and fallback rates.

The log is Parquet segments laid out by model, version and UTC hour
(:mod:`conveyor.stores.prediction_log`); only the hours inside the window are
opened, only the columns needed are read, and Polars aggregates lazily. Segments are
never rewritten, so an answer is cached under the window's start (to the
minute) and the exact list of segment files: a new segment is a new key.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["segments_since", "traffic_series", "traffic_summary"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_OK_STATUSES = ("ok", "shadow")
_CACHE_SIZE = 16
_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """Segments are never rewritten, only added: the same files and window give the same answer."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = compute()
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def segments_since(
    root: Path | None, since: datetime, *, model: str | None = None
) -> Iterator[Path]:
    """Segment files whose hour is not before ``since`` (``<model>/v<n>/<day>/<hour>/part-*``)."""
    if root is None or not root.is_dir() or (model is not None and not _NAME.match(model)):
        return
    cutoff = since.astimezone(UTC).strftime("%Y-%m-%d/%H")
    for day_dir in sorted(root.glob(f"{model or '*'}/v*/*")):
        if not day_dir.is_dir() or day_dir.name < cutoff[:10]:
            continue
        for hour_dir in sorted(day_dir.iterdir()):
            if f"{day_dir.name}/{hour_dir.name}" < cutoff:
                continue
            yield from sorted(hour_dir.glob("part-*.parquet"))


def _window(
    root: Path | None, hours: int, model: str | None, now: datetime | None
) -> tuple[Any, ...]:
    """``(since, files)``: the window's start (to the minute) and the segments inside it."""
    now = now or datetime.now(UTC)
    since = (now - timedelta(hours=hours)).replace(second=0, microsecond=0)
    return since, tuple(str(p) for p in segments_since(root, since, model=model))


def _scan(files: tuple[str, ...], since: datetime) -> Any:
    import polars as pl

    schema = {
        "model": pl.String,
        "version": pl.Int64,
        "ts": pl.Datetime("us", "UTC"),
        "latency_ms": pl.Float64,
        "fallback": pl.Boolean,
        "status": pl.String,
    }
    frame = pl.scan_parquet(
        list(files), schema=schema, extra_columns="ignore", missing_columns="insert"
    )
    return frame.filter(pl.col("ts") >= since.astimezone(UTC))


def traffic_summary(
    root: Path | None, *, hours: int, model: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Per model version over the last ``hours``: predictions, rate, latency, errors, fallbacks.

    Example:
        >>> traffic_summary(Path("/nonexistent"), hours=24)["total"]
        0
    """
    since, files = _window(root, hours, model, now)
    if not files:
        return {"hours": hours, "total": 0, "rows": []}
    return _cached(("summary", hours, since, files), lambda: _summary(files, since, hours))


def _summary(files: tuple[str, ...], since: datetime, hours: int) -> dict[str, Any]:
    import polars as pl

    lat = pl.col("latency_ms")
    stats = (
        _scan(files, since)
        .group_by("model", "version")
        .agg(
            pl.len().alias("predictions"),
            lat.quantile(0.5).alias("latency_p50_ms"),
            lat.quantile(0.95).alias("latency_p95_ms"),
            lat.quantile(0.99).alias("latency_p99_ms"),
            pl.col("fallback").fill_null(False).mean().alias("fallback_rate"),
            (~pl.col("status").fill_null("ok").is_in(_OK_STATUSES)).mean().alias("error_rate"),
        )
        .sort("model", "version")
        .collect()
    )
    rows = [
        {**row, "per_hour": row["predictions"] / hours, "version": int(row["version"])}
        for row in stats.to_dicts()
    ]
    return {"hours": hours, "total": int(sum(r["predictions"] for r in rows)), "rows": rows}


def traffic_series(
    root: Path | None, *, hours: int, model: str | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per hour and version: predictions and p95 latency (for the traffic charts)."""
    since, files = _window(root, hours, model, now)
    if not files:
        return []
    return _cached(("series", since, files), lambda: _series(files, since))


def _series(files: tuple[str, ...], since: datetime) -> list[dict[str, Any]]:
    import polars as pl

    return (
        _scan(files, since)
        .group_by("model", "version", pl.col("ts").dt.truncate("1h").alias("hour"))
        .agg(pl.len().alias("predictions"), pl.col("latency_ms").quantile(0.95).alias("p95"))
        .sort("hour", "model", "version")
        .collect()
        .to_dicts()
    )
