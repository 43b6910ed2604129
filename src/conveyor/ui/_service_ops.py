"""Monitoring and run-list choices: the stored time series, alerts, firings and decisions.

Monitoring figures come from the series ``conveyor monitor`` stores
(:func:`conveyor.monitor.metric_points`); alerts, trigger firings and the
agent's decisions from :class:`conveyor.automate.AutomationStore`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import sqlalchemy as sa

from conveyor.ui import _figures, _monitor_queries
from conveyor.ui._context import UiContext
from conveyor.ui._schemas import FiguresOut, MonitoringOut

__all__ = ["monitoring", "monitoring_figures", "run_filter_choices"]

_LIST_LIMIT = 50
_HEATMAP_COLUMNS = 40
_DISTRIBUTIONS = 6
# What the monitoring page shows of each alert, firing and decision (besides its evidence).
_ALERT_FIELDS = ("created_at", "severity", "title", "message", "status", "repeats")
_FIRING_FIELDS = ("fired_at", "trigger", "action", "outcome")
_DECISION_FIELDS = ("created_at", "action", "from_version", "to_version", "reason", "actor")


def run_filter_choices(ctx: UiContext) -> dict[str, list[str]]:
    """The kinds of run and registered model names, for the runs page's filter menus."""
    from conveyor.registry._tables import model_versions
    from conveyor.stores._tables import runs

    def read(conn: sa.Connection) -> dict[str, list[str]]:
        kinds = conn.execute(sa.select(runs.c.kind).distinct().order_by(runs.c.kind)).scalars()
        names = conn.execute(
            sa.select(model_versions.c.model_name).distinct().order_by(model_versions.c.model_name)
        ).scalars()
        return {"kinds": list(kinds), "models": list(names)}

    return ctx.read(read)


def _monitored_models(ctx: UiContext) -> list[str]:
    from conveyor.monitor._tables import monitor_runs

    return ctx.read(
        lambda conn: list(
            conn.execute(
                sa.select(monitor_runs.c.model).distinct().order_by(monitor_runs.c.model)
            ).scalars()
        )
    )


def _pick_model(ctx: UiContext, model: str | None, monitored: list[str]) -> str:
    if model:
        return model
    default = ctx.project.config.model_name
    return default if default in monitored or not monitored else monitored[0]


def _evidence_text(evidence: Any) -> str:
    import json

    return json.dumps(evidence, sort_keys=True, indent=1, default=str)


def _with_evidence(records: Iterable[Any], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """``fields`` of each record, then its evidence as indented JSON text."""
    return [
        {**{name: getattr(r, name) for name in fields}, "evidence": _evidence_text(r.evidence)}
        for r in records
    ]


def monitoring(ctx: UiContext, *, model: str | None, days: int) -> MonitoringOut:
    """The monitor runs, alerts, trigger firings and agent decisions of one model."""
    from conveyor.automate import AutomationStore
    from conveyor.monitor import list_monitor_runs

    monitored = _monitored_models(ctx)
    name = _pick_model(ctx, model, monitored)
    since = datetime.now(UTC) - timedelta(days=days)
    runs = [
        r for r in list_monitor_runs(ctx.project.metadata, name, limit=_LIST_LIMIT)
        if r.window_end >= since
    ]  # fmt: skip
    automation = AutomationStore(ctx.project.metadata)
    alerts = automation.list_alerts(name, limit=_LIST_LIMIT)
    firings = automation.list_firings(name, limit=_LIST_LIMIT)
    decisions = automation.list_decisions(name, limit=_LIST_LIMIT)
    note = None
    if not monitored:
        note = "No monitor run stored yet: `conveyor monitor` (or the agent) stores one per window."
    return MonitoringOut(
        available=True,
        note=note,
        model=name,
        models=sorted(set(monitored) | {name}),
        runs=[
            {
                "id": r.id,
                "window_start": r.window_start,
                "window_end": r.window_end,
                "versions": r.versions,
                "n_predictions": r.n_predictions,
                "n_labelled": r.n_labelled,
                "metrics": (r.summary.get("metrics") or {}),
                "notes": r.summary.get("notes") or [],
            }
            for r in runs
        ],
        alerts=_with_evidence(alerts, _ALERT_FIELDS),
        firings=_with_evidence(firings, _FIRING_FIELDS),
        decisions=_with_evidence(reversed(decisions), _DECISION_FIELDS),
    )


def monitoring_figures(ctx: UiContext, *, model: str | None, days: int) -> FiguresOut:
    """Drift heat map, drift share, live performance with label counts, serving health."""
    import numpy as np
    import plotly.graph_objects as go

    from conveyor.monitor import REPORTED_METRICS, list_monitor_runs

    monitored = _monitored_models(ctx)
    name = _pick_model(ctx, model, monitored)
    latest = list_monitor_runs(ctx.project.metadata, name, limit=1)
    if not latest:
        return FiguresOut(figures=[], notes=[f"no monitor run of {name!r} stored yet"])
    reported = REPORTED_METRICS.get(latest[0].summary.get("task") or "", ())
    since = datetime.now(UTC) - timedelta(days=days)
    names = ["drift.share", "performance.labels", *(f"performance.{m}" for m in reported)]
    names += ["latency.p50_ms", "latency.p95_ms", "latency.p99_ms", "errors.rate", "fallback.rate"]

    def read(conn: sa.Connection) -> tuple[Any, Any]:
        return (
            _monitor_queries.overall_series(conn, name, names, since=since),
            _monitor_queries.drift_cells(conn, name, since=since, max_columns=_HEATMAP_COLUMNS),
        )

    series, cells = ctx.read(read)
    out: list[dict[str, Any]] = []
    if cells is not None:
        out.append({"id": "drift-heatmap", "title": "Drift per feature", "figure": _heatmap(cells)})

    def lines(title: str, y: str, keys: list[tuple[str, str]]) -> Any:
        fig = _figures.series_figure(title, x="window end (UTC)", y=y)
        for key, label in keys:
            xs, ys = series.get(key, ([], []))
            values = np.array([np.nan if v is None else v for v in ys], dtype=float)
            fig.add_trace(go.Scatter(x=xs, y=values, mode="lines+markers", name=label))
        return fig

    def add(fig_id: str, title: str, fig: Any) -> None:
        out.append({"id": fig_id, "title": title, "figure": _figures.figure_json(fig)})

    if series.get("drift.share"):
        add("drift-share", "Drift share", lines("Share of drifted features", "share",
                                                [("drift.share", "drift share")]))  # fmt: skip
    perf = [(f"performance.{m}", m) for m in reported if series.get(f"performance.{m}")]
    if perf:
        fig = lines("Live performance (bars: labels behind each point)", "metric", perf)
        xs, counts = series.get("performance.labels", ([], []))
        fig.add_trace(
            go.Bar(x=xs, y=np.array([np.nan if v is None else v for v in counts], dtype=float),
                   name="labels", yaxis="y2", opacity=0.3)
        )  # fmt: skip
        fig.update_layout(yaxis2={"title": {"text": "labels"}, "overlaying": "y", "side": "right"})
        add("performance", "Live performance", fig)
    if series.get("latency.p95_ms"):
        keys = [(f"latency.{q}_ms", q) for q in ("p50", "p95", "p99")]
        add("latency", "Latency", lines("Latency", "ms", keys))
        keys = [("errors.rate", "error rate"), ("fallback.rate", "fallback rate")]
        add("rates", "Error and fallback rates", lines("Error and fallback rates", "share", keys))
    out += _distributions(latest[0].summary)
    return FiguresOut(figures=out, notes=[f"{name}: windows ending in the last {days} days"])


def _heatmap(cells: Any) -> dict[str, Any]:
    """Drifted (red) or not per feature and cell; hover shows the test's statistic.

    Colour by verdict, not by statistic: the statistics of different tests (PSI,
    KS, chi-square, Jensen-Shannon) are not on one scale.
    """
    import plotly.graph_objects as go

    unit = "day (UTC): drifted in any window that day" if cells.by_day else "window end (UTC)"
    fig = _figures.series_figure(
        "Drift per feature over time (red: drifted)", x=unit, y="",
        height=max(260, 90 + 22 * len(cells.columns)),
    )  # fmt: skip
    fig.add_trace(
        go.Heatmap(
            x=cells.labels,
            y=[escape(c) for c in cells.columns],
            z=cells.drifted,
            customdata=cells.statistic,
            colorscale=[[0.0, "#e8f3ea"], [1.0, "#c8453b"]],
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=1,
            ygap=1,
            hoverongaps=False,
            hovertemplate="%{y}<br>%{x}<br>statistic %{customdata:.4g}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", automargin=True)
    return _figures.figure_json(fig)


def _distributions(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Reference versus current distributions of the latest window's most drifted features."""
    import dataclasses

    from conveyor.monitor._drift_html import column_figure
    from conveyor.monitor.drift import ColumnDrift

    drift = summary.get("drift")
    if not isinstance(drift, dict):
        return []
    known = {f.name for f in dataclasses.fields(ColumnDrift)}
    columns = []
    for entry in [*(drift.get("columns") or []), drift.get("prediction")]:
        if isinstance(entry, dict) and known <= set(entry):
            values = {k: entry[k] for k in known}
            for name in (
                "statistic",
                "threshold",
                "missing_rate_reference",
                "missing_rate_current",
            ):
                values[name] = float("nan") if values[name] is None else values[name]
            columns.append(ColumnDrift(**values))
    prediction = columns[-1:] if isinstance(drift.get("prediction"), dict) else []
    features = sorted(columns[: len(columns) - len(prediction)], key=lambda c: not c.drifted)
    shown = [*features[:_DISTRIBUTIONS], *prediction]
    return [
        {"id": f"distribution-{i}", "title": f"{c.column}: reference vs current",
         "figure": _figures.figure_json(column_figure(c))}
        for i, c in enumerate(shown)
    ]  # fmt: skip
