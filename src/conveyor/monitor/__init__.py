"""Monitoring: drift, data quality, live performance.

Example:
    >>> from conveyor.monitor import monitor_model, metric_series
    >>> result = monitor_model("churn", store=store, artifacts=artifacts, registry=registry,
    ...                        log_root=log_root, window_s=86400)  # doctest: +SKIP
    >>> result.metrics()["performance.accuracy"]  # doctest: +SKIP
    0.91
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor._lazy import lazy_exports

if TYPE_CHECKING:
    from conveyor.monitor._performance import REPORTED_METRICS
    from conveyor.monitor._report import (
        default_report_path,
        history_points,
        render_monitor_html,
        write_monitor_reports,
    )
    from conveyor.monitor._series import (
        MetricPoint,
        MonitorRunRecord,
        list_monitor_runs,
        metric_points,
        metric_series,
    )
    from conveyor.monitor.drift import (
        ColumnDrift,
        DriftReport,
        drift_between_frames,
        drift_from_reference,
    )
    from conveyor.monitor.monitoring import (
        SNAPSHOT_METRICS,
        MonitorResult,
        monitor_model,
        resolve_window,
    )

# Loaded on first use: `conveyor drift` needs the statistics, not the store,
# registry and report machinery that `conveyor monitor` brings in.
_HOMES = {
    "REPORTED_METRICS": "_performance",
    "default_report_path": "_report",
    "history_points": "_report",
    "render_monitor_html": "_report",
    "write_monitor_reports": "_report",
    "MetricPoint": "_series",
    "MonitorRunRecord": "_series",
    "list_monitor_runs": "_series",
    "metric_points": "_series",
    "metric_series": "_series",
    "ColumnDrift": "drift",
    "DriftReport": "drift",
    "drift_between_frames": "drift",
    "drift_from_reference": "drift",
    "SNAPSHOT_METRICS": "_names",
    "MonitorResult": "monitoring",
    "monitor_model": "monitoring",
    "resolve_window": "monitoring",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "REPORTED_METRICS",
    "SNAPSHOT_METRICS",
    "ColumnDrift",
    "DriftReport",
    "MetricPoint",
    "MonitorResult",
    "MonitorRunRecord",
    "default_report_path",
    "drift_between_frames",
    "drift_from_reference",
    "history_points",
    "list_monitor_runs",
    "metric_points",
    "metric_series",
    "monitor_model",
    "render_monitor_html",
    "resolve_window",
    "write_monitor_reports",
]
