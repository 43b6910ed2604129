"""Admin endpoints (``admin`` scope; loopback only when no API keys are configured).

- ``POST /v1/admin/reload``: re-resolve the champion and challenger aliases now.
- ``POST /v1/admin/promote {version, reason}``: make ``version`` the champion, then reload.
- ``POST /v1/admin/rollback {reason}``: return the champion to the previous one, then reload.
- ``POST /v1/admin/canary {traffic}``: set the canary share (0.0 - 1.0) at runtime.

Registry history records the caller as ``api:<key name>``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from conveyor.errors import ModelError, NotFound
from conveyor.serve._http import (
    HTTPProblem,
    ServeContext,
    actor_of,
    authorize,
    json_response,
    read_json,
)

if TYPE_CHECKING:
    from conveyor.serve.model_holder import ServedModel

__all__ = ["install_admin"]

Guard = Callable[[str, Request, Any], Awaitable[Response]]


def _served(ctx: ServeContext) -> dict[str, Any]:
    champion, challenger = ctx.holder.current, ctx.holder.challenger
    return {
        "champion": champion.number if champion else None,
        "challenger": challenger.number if challenger else None,
    }


def _reason(data: dict[str, Any]) -> str:
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise HTTPProblem(
            422,
            "field 'reason' must be a non-empty text (it goes into the registry history)",
            [{"index": 0, "field": "reason", "problem": "missing" if reason is None else "type",
              "message": "field 'reason' must be a non-empty text"}],
        )  # fmt: skip
    return reason.strip()


async def _body(ctx: ServeContext, request: Request) -> dict[str, Any]:
    data = await read_json(request, ctx.cfg.max_body_bytes)
    if not isinstance(data, dict):
        raise HTTPProblem(422, f"expected a JSON object, got {type(data).__name__}")
    return data


async def _move(ctx: ServeContext, action: Callable[[], Any]) -> Response:
    try:
        moved = await run_in_threadpool(action)
    except NotFound as exc:
        raise HTTPProblem(404, str(exc)) from exc
    except ModelError as exc:
        raise HTTPProblem(409, str(exc)) from exc
    await run_in_threadpool(ctx.holder.reload)
    return json_response({"champion_version": moved.version, "served": _served(ctx)})


def install_admin(app: FastAPI, ctx: ServeContext, guarded: Guard) -> None:
    """Add the admin routes to ``app``; ``guarded`` wraps a handler with metrics and errors."""
    registry = ctx.project.registry

    def model_name(served: ServedModel | None) -> str:
        if served is not None:
            return served.name
        return ctx.holder.ref.split("@", 1)[0].split(":", 1)[0]

    async def reload_handler(request: Request, served: ServedModel | None) -> Response:
        authorize(request, ctx.keys, "admin")
        try:
            await run_in_threadpool(ctx.holder.reload)
        except NotFound as exc:
            raise HTTPProblem(404, str(exc)) from exc
        return json_response({"reloaded": True, "served": _served(ctx)})

    async def promote_handler(request: Request, served: ServedModel | None) -> Response:
        key = authorize(request, ctx.keys, "admin")
        data = await _body(ctx, request)
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int | str) or version == "":
            raise HTTPProblem(
                422,
                "field 'version' must be a version number (e.g. 3)",
                [{"index": 0, "field": "version", "problem": "missing" if version is None else "type",
                  "message": "field 'version' must be a version number (e.g. 3)"}],
            )  # fmt: skip
        reason = _reason(data)
        name = model_name(served)
        return await _move(
            ctx,
            lambda: registry.promote(name, version, reason=reason, actor=actor_of(key)),
        )

    async def rollback_handler(request: Request, served: ServedModel | None) -> Response:
        key = authorize(request, ctx.keys, "admin")
        reason = _reason(await _body(ctx, request))
        name = model_name(served)
        return await _move(ctx, lambda: registry.rollback(name, reason=reason, actor=actor_of(key)))

    async def canary_handler(request: Request, served: ServedModel | None) -> Response:
        key = authorize(request, ctx.keys, "admin")
        data = await _body(ctx, request)
        traffic = data.get("traffic")
        if (
            isinstance(traffic, bool)
            or not isinstance(traffic, int | float)
            or not math.isfinite(traffic)
            or not 0.0 <= traffic <= 1.0
        ):
            message = f"field 'traffic' must be a number in [0, 1], got {traffic!r}"
            raise HTTPProblem(
                422,
                message,
                [{"index": 0, "field": "traffic", "problem": "range", "message": message}],
            )
        if ctx.router is None:
            raise HTTPProblem(409, "canary routing is off: set serve.canary in conveyor.yaml")
        from conveyor.stores.deployments import set_canary_traffic

        # The fleet setting: every server of this model follows it within one heartbeat.
        name = model_name(served)
        await run_in_threadpool(
            lambda: set_canary_traffic(
                ctx.project.metadata, name, float(traffic), actor=actor_of(key)
            )
        )
        ctx.router.traffic = float(traffic)
        ctx.metrics.canary_traffic.set(ctx.router.traffic)
        return json_response({"traffic": ctx.router.traffic, "served": _served(ctx)})

    handlers = {
        "reload": reload_handler,
        "promote": promote_handler,
        "rollback": rollback_handler,
        "canary": canary_handler,
    }
    for name, handler in handlers.items():
        _route(app, name, handler, guarded)


def _route(app: FastAPI, name: str, handler: Any, guarded: Guard) -> None:
    async def endpoint(request: Request) -> Response:
        return await guarded(f"admin_{name}", request, handler)

    endpoint.__name__ = f"admin_{name}"
    app.post(f"/v1/admin/{name}")(endpoint)
