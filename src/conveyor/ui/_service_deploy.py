"""Deployments: what each running server serves, from the servers' heartbeats; the canary share.

Servers write a heartbeat to the metadata store every few seconds and follow
the fleet-wide canary share stored beside it (:mod:`conveyor.serve.deployments`),
so setting the share here reaches every server of the model within one beat.
"""

from __future__ import annotations

import math
from typing import Any

from conveyor.serve.deployments import canary_traffic, list_deployments, set_canary_traffic
from conveyor.ui._auth import Caller, actor_of
from conveyor.ui._context import UiContext
from conveyor.ui._schemas import ActionResult, DeploymentOut, DeploymentsOut

__all__ = ["STALE_AFTER_S", "canary_state", "deployments", "set_canary"]

STALE_AFTER_S = 30.0
_STATS = (
    "request_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "error_rate",
    "fallback_rate",
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def deployments(ctx: UiContext, *, model: str | None = None) -> DeploymentsOut:
    """Every server that reported in (running first, then lost and stopped), newest first."""
    found = list_deployments(
        ctx.project.metadata, model=model, include_stopped=True, stale_after_s=STALE_AFTER_S
    )
    order = {"running": 0, "lost": 1, "stopped": 2}
    found.sort(key=lambda d: (order.get(d.status, 3), -d.last_seen.timestamp()))
    servers = [
        DeploymentOut(
            server_id=d.server_id,
            status=d.status,
            host=d.host,
            pid=d.pid,
            address=d.address,
            model=d.model,
            model_ref=d.model_ref,
            champion_version=d.champion_version,
            challenger_version=d.challenger_version,
            canary_share=_number(d.canary_traffic),
            started_at=d.started_at,
            last_seen=d.last_seen,
            stale=d.status != "running",
            **{key: _number(d.stats.get(key)) for key in _STATS},
        )
        for d in found
    ]
    running = sum(s.status == "running" for s in servers)
    note = None if running else "No server is running: start one with `conveyor serve`."
    return DeploymentsOut(available=True, note=note, servers=servers)


def canary_state(ctx: UiContext, model: str) -> dict[str, Any]:
    """The fleet canary share of ``model`` (None: as configured) and its running servers."""
    servers = deployments(ctx, model=model).servers
    return {
        "traffic": canary_traffic(ctx.project.metadata, model),
        "servers": [s for s in servers if s.status == "running"],
    }


def set_canary(
    ctx: UiContext, model: str, traffic: float | None, *, caller: Caller
) -> ActionResult:
    """Set (or with None, clear) the canary share every server of ``model`` follows.

    Raises:
        NotFound: ``model`` is not registered.
    """
    ctx.project.registry.aliases(model)  # NotFound, listing the known models
    actor = actor_of(caller)
    set_canary_traffic(ctx.project.metadata, model, traffic, actor=actor)
    message = (
        f"{model}: canary share cleared, servers use their configured share"
        if traffic is None
        else f"{model}: {traffic:.1%} of requests go to the challenger on every server"
    )
    return ActionResult(
        model=model, action="canary", canary_traffic=traffic, actor=actor, message=message
    )
