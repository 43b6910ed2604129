"""A monitor result as a flat snapshot, as JSON, and as rows of the stored time series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from conveyor.evaluate._common import to_jsonable
from conveyor.monitor._series import MetricRow

if TYPE_CHECKING:
    from conveyor.monitor.monitoring import MonitorResult

__all__ = ["REPORT_FORMAT_VERSION", "metric_rows", "result_dict", "snapshot"]

REPORT_FORMAT_VERSION = 1
_PERFORMANCE = ("accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae")
_HEALTH = {
    "latency.p50_ms": "p50_ms",
    "latency.p95_ms": "p95_ms",
    "latency.p99_ms": "p99_ms",
    "errors.rate": "error_rate",
    "fallback.rate": "fallback_rate",
}


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def snapshot(result: MonitorResult) -> dict[str, float | None]:
    """The flat metric snapshot of ``result`` (see ``SNAPSHOT_METRICS``)."""
    overall = result.performance.get("overall") or {}
    scores = overall.get("metrics") or {}
    out: dict[str, float | None] = {f"performance.{m}": _num(scores.get(m)) for m in _PERFORMANCE}
    out["performance.labels"] = float(overall.get("labels", 0))
    drift = result.drift
    out["drift.share"] = _num(drift.share) if drift is not None else None
    out["drift.dataset"] = (1.0 if drift.dataset_drift else 0.0) if drift is not None else None
    prediction = drift.prediction if drift is not None else None
    out["drift.prediction"] = _num(prediction.statistic) if prediction is not None else None
    quality = result.quality
    out["data.rows"] = float(result.n_predictions)
    out["data.new_rows"] = float(result.new_rows)
    out["data.null_rate"] = _num(quality.get("null_rate"))
    out["data.unseen_categories"] = _num(quality.get("unseen_categories"))
    out["data.out_of_range"] = _num(quality.get("out_of_range"))
    health = result.health.get("overall") or {}
    for name, key in _HEALTH.items():
        out[name] = _num(health.get(key))
    return out


def result_dict(result: MonitorResult) -> dict[str, Any]:
    """Everything in ``result`` as plain JSON types (NaN and infinities become null)."""
    return to_jsonable(
        {
            "format_version": REPORT_FORMAT_VERSION,
            "model": result.model,
            "versions": list(result.versions),
            "primary_version": result.primary_version,
            "serving_version": result.serving_version,
            "task": result.task,
            "window": {"start": result.window_start, "end": result.window_end},
            "n_predictions": result.n_predictions,
            "n_labelled": result.n_labelled,
            "new_rows": result.new_rows,
            "metrics": snapshot(result),
            "drift": result.drift.to_dict() if result.drift is not None else None,
            "quality": result.quality,
            "performance": result.performance,
            "health": result.health,
            "notes": list(result.notes),
            "run_id": result.run_id,
        }
    )


def metric_rows(result: MonitorResult, reported: Sequence[str]) -> list[MetricRow]:
    """The figures of ``result`` to store: the snapshot, per version, and per column."""
    rows = [MetricRow(name, value) for name, value in snapshot(result).items()]
    performance = result.performance.get("versions") or {}
    health = result.health.get("versions") or {}
    for key in sorted(set(performance) | set(health), key=int):
        version = int(key)
        figure = performance.get(key) or {}
        scores = figure.get("metrics") or {}
        for metric in reported:
            rows.append(MetricRow(f"performance.{metric}", _num(scores.get(metric)), version))
        rows.append(MetricRow("performance.labels", float(figure.get("labels", 0)), version))
        served = health.get(key) or {}
        rows.append(MetricRow("data.rows", _num(served.get("rows")), version))
        for name, field in _HEALTH.items():
            rows.append(MetricRow(name, _num(served.get(field)), version))
    if result.drift is not None:
        for column in result.drift.columns:
            rows.append(MetricRow("drift.statistic", _num(column.statistic), column=column.column))
            rows.append(
                MetricRow("drift.drifted", 1.0 if column.drifted else 0.0, column=column.column)
            )
    for name, entry in (result.quality.get("fields") or {}).items():
        rows.append(MetricRow("data.null_rate", _num(entry.get("null_rate")), column=name))
    return rows
