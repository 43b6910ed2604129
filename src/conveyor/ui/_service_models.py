"""Models and traffic: versions, aliases, gates, history, and the alias moves the dashboard makes.

Promotions and rollbacks go through the registry, like ``conveyor models
promote``; the alias history records the dashboard user as ``ui:<key name>``.
Servers watching the alias pick the change up on their next poll.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from conveyor.ui import _figures, _queries, _traffic
from conveyor.ui._auth import Caller, actor_of
from conveyor.ui._context import UiContext
from conveyor.ui._schemas import (
    ActionResult,
    AliasMoveOut,
    FiguresOut,
    ModelDetail,
    ModelRow,
    ModelsOut,
    TrafficOut,
    TrafficRow,
    VersionOut,
)

__all__ = [
    "list_models",
    "model_detail",
    "promote",
    "rollback",
    "traffic",
    "traffic_figures",
]


def list_models(ctx: UiContext) -> ModelsOut:
    """Every registered model with its version count and aliases."""
    summaries = ctx.project.registry.list_models()
    return ModelsOut(
        models=[
            ModelRow(
                name=m.name,
                versions=m.versions,
                latest_version=m.latest_version,
                aliases=m.aliases,
                updated_at=m.updated_at,
            )
            for m in summaries
        ]
    )


def model_detail(
    ctx: UiContext, name: str, *, page: int = 1, per_page: int = 50, history: int = 100
) -> ModelDetail:
    """Versions (one page, newest first), aliases, gates and the newest alias moves.

    Raises:
        NotFound: the model is not registered (the message lists known models).
    """
    from conveyor.registry._queries import alias_map

    def read(conn: sa.Connection) -> tuple[Any, ...]:
        primary = _queries.primary_metric_of_model(conn, name)
        page_data = _queries.model_versions_page(
            conn, name, page=page, per_page=per_page, primary_metric=primary
        )
        return (
            primary,
            page_data,
            alias_map(conn, name),
            _queries.alias_history(conn, name, limit=history),
        )

    primary, page_data, aliases, moves = ctx.read(read)
    return ModelDetail(
        name=name,
        primary_metric=primary,
        aliases=aliases,
        total_versions=page_data["total_versions"],
        page=page,
        per_page=per_page,
        versions=[VersionOut(**v) for v in page_data["versions"]],
        history=[AliasMoveOut(**m) for m in moves],
    )


def promote(
    ctx: UiContext, name: str, version: int, *, reason: str, force: bool, caller: Caller
) -> ActionResult:
    """Make ``version`` the champion of ``name``.

    Raises:
        NotFound: unknown model or version.
        ModelError: the version failed its gates and ``force`` is False.
    """
    actor = actor_of(caller)
    moved = ctx.project.registry.promote(name, version, reason=reason, actor=actor, force=force)
    return ActionResult(
        model=name,
        action="promote",
        champion_version=moved.version,
        actor=actor,
        message=f"{name} v{moved.version} is now the champion",
    )


def rollback(ctx: UiContext, name: str, *, reason: str, caller: Caller) -> ActionResult:
    """Return the champion of ``name`` to the previous one.

    Raises:
        NotFound: unknown model, or no previous champion.
    """
    actor = actor_of(caller)
    moved = ctx.project.registry.rollback(name, reason=reason, actor=actor)
    return ActionResult(
        model=name,
        action="rollback",
        champion_version=moved.version,
        actor=actor,
        message=f"{name} rolled back: v{moved.version} is the champion again",
    )


def traffic(ctx: UiContext, *, hours: int, model: str | None) -> TrafficOut:
    """Predictions per model version in the last ``hours``, from the prediction log."""
    summary = _traffic.traffic_summary(ctx.prediction_log_root, hours=hours, model=model)
    return TrafficOut(
        hours=summary["hours"],
        total=summary["total"],
        rows=[TrafficRow(**row) for row in summary["rows"]],
    )


def traffic_figures(ctx: UiContext, *, hours: int, model: str | None) -> FiguresOut:
    """Predictions per hour and p95 latency per hour, one line per model version."""
    import plotly.graph_objects as go

    points = _traffic.traffic_series(ctx.prediction_log_root, hours=hours, model=model)
    if not points:
        return FiguresOut(figures=[], notes=[f"no logged predictions in the last {hours} h"])
    series: dict[str, list[dict]] = {}
    for p in points:
        series.setdefault(f"{p['model']} v{p['version']}", []).append(p)
    count = _figures.series_figure("Predictions per hour", x="hour (UTC)", y="predictions")
    latency = _figures.series_figure("Latency p95 per hour", x="hour (UTC)", y="ms")
    for label, rows in series.items():
        hours_x = [r["hour"].astimezone(UTC).isoformat() for r in rows]
        count.add_trace(go.Scatter(x=hours_x, y=[r["predictions"] for r in rows], name=label))
        latency.add_trace(go.Scatter(x=hours_x, y=[r["p95"] for r in rows], name=label))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return FiguresOut(
        figures=[
            {
                "id": "traffic",
                "title": "Predictions per hour",
                "figure": _figures.figure_json(count),
            },
            {"id": "latency", "title": "Latency p95", "figure": _figures.figure_json(latency)},
        ],
        notes=[f"from the prediction log, last {hours} h up to {now}"],
    )
