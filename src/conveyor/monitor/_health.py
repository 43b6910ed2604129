"""Serving health from the prediction log: latency percentiles, error and fallback rates.

Every logged row carries ``latency_ms``, ``fallback`` and ``status``. A row is
an error when its status is neither ``ok`` nor ``shadow`` (the server logs
``ok`` for answers and ``shadow`` for a challenger's off-path answers; other
writers may log failures with their own status). Requests refused before a
model answered (HTTP 4xx) are not in the log: the server's ``/metrics``
endpoint counts those. The overall figures are over the rows served to
callers (shadow rows excluded); per-version figures include shadow rows.
"""

from __future__ import annotations

from typing import Any

import polars as pl

__all__ = ["serving_health"]

_OK = ("ok", "shadow")


def _figures() -> list[pl.Expr]:
    latency = pl.col("latency_ms").filter(pl.col("latency_ms").is_not_null())
    return [
        pl.len().alias("rows"),
        (pl.col("status") == "shadow").sum().alias("shadow_rows"),
        latency.quantile(0.50, "linear").alias("p50_ms"),
        latency.quantile(0.95, "linear").alias("p95_ms"),
        latency.quantile(0.99, "linear").alias("p99_ms"),
        latency.mean().alias("mean_ms"),
        (~pl.col("status").is_in(_OK)).mean().alias("error_rate"),
        pl.col("fallback").cast(pl.Float64).mean().alias("fallback_rate"),
    ]


def _row(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["rows"] = int(out["rows"])
    out["shadow_rows"] = int(out["shadow_rows"] or 0)
    return out


def serving_health(frame: pl.DataFrame) -> dict[str, Any]:
    """Overall and per-version health of the logged rows in ``frame``.

    ``frame`` needs ``version``, ``status``, ``latency_ms`` and ``fallback``.
    Percentiles are ``None`` where no row has a latency.
    """
    if not frame.height:
        return {"overall": None, "versions": {}}
    by_version = frame.group_by("version").agg(_figures()).sort("version")
    versions = {str(row.pop("version")): _row(row) for row in by_version.iter_rows(named=True)}
    if len(versions) == 1 and not next(iter(versions.values()))["shadow_rows"]:
        return {"overall": dict(next(iter(versions.values()))), "versions": versions}
    served = frame.filter(pl.col("status") != "shadow")
    overall = served.select(_figures()).row(0, named=True) if served.height else None
    return {"overall": _row(overall) if overall else None, "versions": versions}
