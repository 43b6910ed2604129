"""The metric names of a monitor snapshot (no heavy imports: the trigger grammar reads them)."""

from __future__ import annotations

__all__ = ["SNAPSHOT_METRICS"]

SNAPSHOT_METRICS: tuple[str, ...] = (
    "performance.accuracy",
    "performance.precision",
    "performance.recall",
    "performance.f1",
    "performance.roc_auc",
    "performance.rmse",
    "performance.mae",
    "performance.labels",
    "drift.share",
    "drift.dataset",
    "drift.prediction",
    "data.rows",
    "data.new_rows",
    "data.null_rate",
    "data.unseen_categories",
    "data.out_of_range",
    "latency.p50_ms",
    "latency.p95_ms",
    "latency.p99_ms",
    "errors.rate",
    "fallback.rate",
)
"""Every name :meth:`MonitorResult.metrics` returns (the trigger grammar reads these)."""
