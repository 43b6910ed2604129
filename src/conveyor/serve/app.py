"""The HTTP service: predictions, feedback, health and metrics for one served model.

Endpoints (JSON in and out; errors are ``{"detail": ..., "errors": [...]}``):

- ``POST /v1/predict``: one record object, or a list of them. 422 lists every
  bad field (``index``, ``field``, ``problem``, ``message``); 413 for a body
  over ``serve.max_body_bytes`` or a list over ``serve.max_batch``; 415 for a
  non-JSON content type; 400 for an empty or malformed body.
- ``POST /v1/feedback``: ``{"prediction_id": ..., "actual": ...}``; idempotent;
  404 for an id the prediction log never saw.
- ``POST /v1/admin/{reload,promote,rollback,canary}``: see :mod:`conveyor.serve.admin`.
- ``GET /v1/models``: what is served (champion, and the challenger of
  ``serve.canary`` / ``serve.shadow`` with its role). ``GET /health``: alive. ``GET /ready``:
  a verified model is loaded (else 503). ``GET /metrics``: Prometheus.

The hot path reads the body once, parses it with orjson and validates with the
bundle's compiled validator; no pydantic model is built per request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from conveyor.serve._http import (
    HTTPProblem,
    ServeContext,
    authorize,
    problem_response,
    read_json,
)
from conveyor.serve._http import (
    json_response as _json,
)
from conveyor.serve._openapi import feedback_openapi, install_openapi, predict_openapi
from conveyor.serve.admin import install_admin
from conveyor.serve.auth import KeyRing
from conveyor.serve.fallback import FallbackPolicy
from conveyor.serve.heartbeat import HeartbeatReporter
from conveyor.serve.metrics import CONTENT_TYPE_LATEST, ServeMetrics
from conveyor.serve.model_holder import ModelHolder, ServedModel
from conveyor.serve.predicting import close_batchers, predict_handler
from conveyor.serve.routing import CanaryRouter

if TYPE_CHECKING:
    from conveyor.config.models import ServeConfig
    from conveyor.project import Project

__all__ = [
    "ADDRESS_ENV",
    "PROJECT_ENV",
    "SERVE_MODEL_ENV",
    "app_from_env",
    "create_app",
    "default_model_ref",
]

log = logging.getLogger("conveyor.serve")

PROJECT_ENV = "CONVEYOR_SERVE_PROJECT"
ADDRESS_ENV = "CONVEYOR_SERVE_ADDRESS"
SERVE_MODEL_ENV = "CONVEYOR_SERVE_MODEL"


class _ServeApp(FastAPI):
    """FastAPI with a direct route for ``POST /v1/predict``.

    The prediction endpoint takes the raw request and builds its own response,
    so FastAPI's routing, dependency solving and exception middleware add
    nothing to it but time (about a third of a request's cost here). This app
    hands that one path straight to its handler; every other path, the
    OpenAPI schema (which still documents ``/v1/predict``) and the lifespan go
    through FastAPI as usual. The handler catches every exception itself.
    """

    fast_predict: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            self.fast_predict is not None
            and scope["type"] == "http"
            and scope["path"] == "/v1/predict"
            and scope["method"] == "POST"
        ):
            scope["app"] = self
            response = await self.fast_predict(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _freeze_heap_when_loaded(holder: ModelHolder) -> None:
    """Once the model is loaded, move every object alive into the GC's permanent generation.

    The libraries and the model are millions of long-lived objects; without
    this, each full collection walks all of them and stalls requests for tens
    of milliseconds (the tail latency). Objects made later are collected as usual.
    """
    while holder.current is None:
        await asyncio.sleep(0.1)
    gc.collect()
    gc.freeze()


def default_model_ref(project: Project) -> str:
    """``serve.model`` when set, else ``<promotion.model_name or project>@<promotion.alias>``."""
    cfg = project.config
    return cfg.serve.model or f"{cfg.model_name}@{cfg.promotion.alias}"


def create_app(
    project: Project,
    *,
    serve_config: ServeConfig | None = None,
    api_keys: Mapping[str, str] | None = None,
    address: str | None = None,
) -> FastAPI:
    """The FastAPI app serving ``serve_config.model`` of ``project``.

    Args:
        project: the open project (registry, artifact and metadata stores).
        serve_config: serving options; default ``project.config.serve``.
        api_keys: ``{name: "key:scope1+scope2"}``; default: parsed from the
            ``CONVEYOR_API_KEYS`` environment variable. No keys: every endpoint is open.
        address: where clients reach this server, reported in the heartbeat
            (default: the ``CONVEYOR_SERVE_ADDRESS`` environment variable).

    The model is loaded (and the alias polled) by a background thread started
    when the app starts; ``/ready`` answers 503 until the first load succeeds.
    """
    cfg = serve_config or project.config.serve
    ref = cfg.model or default_model_ref(project)
    # The prediction-log writer and the heartbeat run in threads; a short switch
    # interval hands the GIL back to the event loop quickly (p99 latency).
    sys.setswitchinterval(cfg.switch_interval_ms / 1000.0)
    keys = KeyRing.from_env(os.environ) if api_keys is None else KeyRing.from_mapping(api_keys)
    name = ref.split("@", 1)[0].split(":", 1)[0]
    challenger_alias = cfg.challenger_alias
    # Parsed now: a bad fallback rule stops `conveyor serve` before it binds.
    policy = FallbackPolicy(cfg.fallback)
    holder = ModelHolder(
        project,
        ref,
        strict_categories=cfg.strict_categories,
        strict_ranges=cfg.strict_ranges,
        extra=cfg.extra,
        reload_interval_s=cfg.reload_interval_s,
        challenger_ref=f"{name}@{challenger_alias}" if challenger_alias else None,
    )
    metrics = ServeMetrics()
    router = CanaryRouter(cfg.canary.traffic) if cfg.canary is not None else None
    if router is not None:
        metrics.canary_traffic.set(router.traffic)
    ctx = ServeContext(
        project=project,
        cfg=cfg,
        holder=holder,
        metrics=metrics,
        keys=keys,
        fallback=policy,
        router=router,
    )
    state = ctx.state
    heartbeat = (
        HeartbeatReporter(
            ctx, address=address or os.environ.get(ADDRESS_ENV), interval_s=cfg.heartbeat_s
        )
        if cfg.heartbeat_s > 0
        else None
    )
    state["heartbeat"] = heartbeat

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if cfg.log_predictions:
            state["log"] = project.open_prediction_log()
        holder.start()
        if heartbeat is not None:
            heartbeat.start()
        freezer = asyncio.get_running_loop().create_task(_freeze_heap_when_loaded(holder))
        try:
            yield
        finally:
            freezer.cancel()
            await close_batchers(ctx)
            holder.close()
            if heartbeat is not None:
                heartbeat.close()
            if state["log"] is not None:
                try:
                    state["log"].close()
                except Exception as exc:  # shutting down: report, do not mask the exit
                    log.error("closing the prediction log failed: %s", exc)

    app = _ServeApp(title="Conveyor", version="1", lifespan=lifespan)
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.serve_config = cfg
    app.state.keys = keys
    app.state.prediction_log = state
    app.state.context = ctx

    def finish(endpoint: str, served: ServedModel | None, status: int, started: float) -> None:
        model, version = (served.name, str(served.number)) if served else ("", "")
        metrics.child(metrics.requests, endpoint, model, version, str(status)).inc()
        elapsed = time.perf_counter() - started
        metrics.child(metrics.latency, endpoint).observe(elapsed)
        if heartbeat is not None and endpoint == "predict":
            heartbeat.window.record(status, elapsed)

    async def guarded(endpoint: str, request: Request, handler: Any) -> Response:
        started = time.perf_counter()
        metrics.in_flight.inc()
        served = holder.current
        try:
            response = await handler(request, served)
        except HTTPProblem as exc:
            metrics.errors.labels(endpoint, str(exc.status)).inc()
            response = problem_response(exc)
        except Exception as exc:
            log.exception("%s failed", endpoint)
            metrics.errors.labels(endpoint, type(exc).__name__).inc()
            response = _json({"detail": f"internal error: {type(exc).__name__}"}, 500)
        finally:
            metrics.in_flight.dec()
        finish(endpoint, served, response.status_code, started)
        return response

    async def feedback_handler(request: Request, served: ServedModel | None) -> Response:
        authorize(request, keys, "feedback")
        data = await read_json(request, cfg.max_body_bytes)
        if not isinstance(data, dict):
            raise HTTPProblem(
                422, f"expected an object {{prediction_id, actual}}, got {type(data).__name__}"
            )
        errors = []
        pid = data.get("prediction_id")
        if not isinstance(pid, str) or not pid:
            errors.append(
                {
                    "index": 0,
                    "field": "prediction_id",
                    "problem": "missing" if pid is None else "type",
                    "message": "field 'prediction_id' must be the non-empty id /v1/predict returned",
                }
            )
        actual = data.get("actual")
        if (
            actual is None
            or not isinstance(actual, str | int | float | bool)
            or (isinstance(actual, float) and not math.isfinite(actual))
        ):
            errors.append(
                {
                    "index": 0,
                    "field": "actual",
                    "problem": "missing" if actual is None else "type",
                    "message": "field 'actual' must be the true label or value (string, number or boolean)",
                }
            )
        if errors:
            raise HTTPProblem(422, "; ".join(e["message"] for e in errors), errors)
        plog = state["log"]
        if plog is None:
            raise HTTPProblem(
                409,
                "this server does not log predictions (serve.log_predictions is false), so it cannot take feedback",
            )
        known = await run_in_threadpool(plog.contains, pid)
        if not known:
            raise HTTPProblem(
                404, f"unknown prediction_id {pid!r}: it is not in the prediction log"
            )
        from conveyor.stores.feedback import record_feedback

        model = served.name if served is not None else None
        changed = await run_in_threadpool(
            lambda: record_feedback(project.metadata, prediction_id=pid, actual=actual, model=model)
        )
        return _json({"prediction_id": pid, "recorded": True, "changed": changed})

    def describe(served: ServedModel, role: str) -> dict[str, Any]:
        sig = served.runtime.signature
        return {
            "name": served.name,
            "version": served.number,
            "role": role,
            "engine": served.runtime.engine,
            "loaded_at": served.loaded_at,
            "task": sig.task,
            "classes": sig.classes,
            "threshold": sig.threshold,
            "manifest_digest": served.version.manifest_digest,
            "inputs": [f.model_dump(exclude={"dtype"}) for f in sig.inputs],
        }

    async def models_handler(request: Request, served: ServedModel | None) -> Response:
        authorize(request, keys, "predict")
        body: dict[str, Any] = {"ref": holder.ref, "models": [], "warnings": []}
        if served is not None:
            body["models"].append(describe(served, "champion"))
        challenger = holder.challenger
        if challenger is not None:
            role = "canary" if cfg.canary is not None else "shadow"
            body["models"].append(describe(challenger, role))
        if holder.challenger_warning:
            body["warnings"].append(holder.challenger_warning)
        if router is not None:
            body["canary_traffic"] = router.traffic
        return _json(body)

    async def predicting(request: Request, served: ServedModel | None) -> Response:
        return await predict_handler(ctx, request, served)

    @app.post("/v1/predict", openapi_extra=predict_openapi(None, cfg.max_batch))
    async def predict(request: Request) -> Response:
        return await guarded("predict", request, predicting)

    app.fast_predict = predict

    @app.post("/v1/feedback", openapi_extra=feedback_openapi())
    async def feedback(request: Request) -> Response:
        return await guarded("feedback", request, feedback_handler)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        return await guarded("models", request, models_handler)

    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.get("/ready")
    async def ready() -> Response:
        served = holder.current
        if served is None:
            return _json({"status": "loading", "ref": holder.ref, "error": holder.last_error}, 503)
        return _json({"status": "ready", "model": served.name, "version": served.number})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    install_admin(app, ctx, guarded)
    install_openapi(app, holder, cfg.max_batch)
    return app


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (several workers): project and model from the env."""
    from conveyor.project import Project

    project = Project(os.environ.get(PROJECT_ENV, "."))
    cfg = project.config.serve
    model = os.environ.get(SERVE_MODEL_ENV)
    if model:
        cfg = cfg.model_copy(update={"model": model})
    return create_app(project, serve_config=cfg)
