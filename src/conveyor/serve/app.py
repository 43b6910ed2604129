"""The HTTP service: predictions, feedback, health and metrics for one served model.

Endpoints (JSON in and out; errors are ``{"detail": ..., "errors": [...]}``):

- ``POST /v1/predict``: one record object, or a list of them. 422 lists every
  bad field (``index``, ``field``, ``problem``, ``message``); 413 for a body
  over ``serve.max_body_bytes`` or a list over ``serve.max_batch``; 415 for a
  non-JSON content type; 400 for an empty or malformed body.
- ``POST /v1/feedback``: ``{"prediction_id": ..., "actual": ...}``; idempotent;
  404 for an id the prediction log never saw.
- ``GET /v1/models``: what is served. ``GET /health``: alive. ``GET /ready``:
  a verified model is loaded (else 503). ``GET /metrics``: Prometheus.

The hot path reads the body once, parses it with orjson and validates with the
bundle's compiled validator; no pydantic model is built per request.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from conveyor.serve._openapi import feedback_openapi, install_openapi, predict_openapi
from conveyor.serve.auth import KeyRing
from conveyor.serve.metrics import CONTENT_TYPE_LATEST, ServeMetrics
from conveyor.serve.model_holder import ModelHolder, ServedModel

if TYPE_CHECKING:
    from conveyor.config.models import ServeConfig
    from conveyor.project import Project

__all__ = ["PROJECT_ENV", "SERVE_MODEL_ENV", "app_from_env", "create_app", "default_model_ref"]

log = logging.getLogger("conveyor.serve")

PROJECT_ENV = "CONVEYOR_SERVE_PROJECT"
SERVE_MODEL_ENV = "CONVEYOR_SERVE_MODEL"


class HTTPProblem(Exception):
    """An error answer: status code, headline, and optional per-field errors."""

    def __init__(
        self, status: int, detail: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _problem(exc: HTTPProblem) -> Response:
    body: dict[str, Any] = {"detail": exc.detail}
    if exc.errors is not None:
        body["errors"] = exc.errors
    return _json(body, exc.status)


def default_model_ref(project: Project) -> str:
    """``serve.model`` when set, else ``<promotion.model_name or project>@<promotion.alias>``."""
    cfg = project.config
    return cfg.serve.model or f"{cfg.model_name}@{cfg.promotion.alias}"


def create_app(
    project: Project,
    *,
    serve_config: ServeConfig | None = None,
    api_keys: Mapping[str, str] | None = None,
) -> FastAPI:
    """The FastAPI app serving ``serve_config.model`` of ``project``.

    Args:
        project: the open project (registry, artifact and metadata stores).
        serve_config: serving options; default ``project.config.serve``.
        api_keys: ``{name: "key:scope1+scope2"}``; default: parsed from the
            ``CONVEYOR_API_KEYS`` environment variable. No keys: every endpoint is open.

    The model is loaded (and the alias polled) by a background thread started
    when the app starts; ``/ready`` answers 503 until the first load succeeds.
    """
    cfg = serve_config or project.config.serve
    ref = cfg.model or default_model_ref(project)
    keys = KeyRing.from_env(os.environ) if api_keys is None else KeyRing.from_mapping(api_keys)
    holder = ModelHolder(
        project,
        ref,
        strict_categories=cfg.strict_categories,
        strict_ranges=cfg.strict_ranges,
        extra=cfg.extra,
        reload_interval_s=cfg.reload_interval_s,
    )
    metrics = ServeMetrics()
    state: dict[str, Any] = {"log": None}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if cfg.log_predictions:
            from conveyor.serve.prediction_log import PredictionLog, default_log_root

            state["log"] = PredictionLog(default_log_root(project.root))
        holder.start()
        try:
            yield
        finally:
            holder.close()
            if state["log"] is not None:
                try:
                    state["log"].close()
                except Exception as exc:  # shutting down: report, do not mask the exit
                    log.error("closing the prediction log failed: %s", exc)

    app = FastAPI(title="Conveyor", version="1", lifespan=lifespan)
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.serve_config = cfg
    app.state.keys = keys
    app.state.prediction_log = state

    def authorize(request: Request, scope: str) -> None:
        if not keys.enabled:
            return
        header = request.headers.get("authorization", "")
        secret = header[7:].strip() if header[:7].lower() == "bearer " else None
        secret = secret or request.headers.get("x-api-key")
        key = keys.authenticate(secret)
        if key is None:
            raise HTTPProblem(
                401, "missing or invalid API key (send 'Authorization: Bearer <key>')"
            )
        if scope not in key.scopes:
            raise HTTPProblem(403, f"API key {key.name!r} lacks the {scope!r} scope")

    def finish(endpoint: str, served: ServedModel | None, status: int, started: float) -> None:
        model, version = (served.name, str(served.number)) if served else ("", "")
        metrics.requests.labels(endpoint, model, version, str(status)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)

    async def guarded(endpoint: str, request: Request, handler: Any) -> Response:
        started = time.perf_counter()
        metrics.in_flight.inc()
        served = holder.current
        try:
            response = await handler(request, served)
        except HTTPProblem as exc:
            metrics.errors.labels(endpoint, str(exc.status)).inc()
            response = _problem(exc)
        except Exception as exc:
            log.exception("%s failed", endpoint)
            metrics.errors.labels(endpoint, type(exc).__name__).inc()
            response = _json({"detail": f"internal error: {type(exc).__name__}"}, 500)
        finally:
            metrics.in_flight.dec()
        finish(endpoint, served, response.status_code, started)
        return response

    async def read_json(request: Request) -> Any:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not (
            ctype.startswith("application/") and ctype.endswith("+json")
        ):
            raise HTTPProblem(
                415, f"expected Content-Type application/json, got {ctype or 'none'!r}"
            )
        limit = cfg.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPProblem(
                413,
                f"request body of {declared} bytes is over the limit of {limit} bytes (serve.max_body_bytes)",
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPProblem(
                    413, f"request body is over the limit of {limit} bytes (serve.max_body_bytes)"
                )
            chunks.append(chunk)
        body = b"".join(chunks)
        if not body.strip():
            raise HTTPProblem(400, "empty request body: send a JSON object or a list of objects")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            # NaN/Infinity are not JSON, but clients send them: parse leniently so that
            # validation can name the field instead of failing the whole body.
            try:
                return json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise HTTPProblem(400, f"request body is not valid JSON: {exc}") from None

    async def predict_handler(request: Request, served: ServedModel | None) -> Response:
        authorize(request, "predict")
        data = await read_json(request)
        if served is None:
            raise HTTPProblem(
                503, f"no model loaded yet for {holder.ref}: {holder.last_error or 'loading'}"
            )
        single = isinstance(data, dict)
        records = [data] if single else data
        if not isinstance(records, list):
            raise HTTPProblem(
                422, f"expected a record object or a list of records, got {type(data).__name__}"
            )
        if not records:
            raise HTTPProblem(422, "the list of records is empty")
        if len(records) > cfg.max_batch:
            raise HTTPProblem(
                413,
                f"{len(records)} records is over the limit of {cfg.max_batch} per request (serve.max_batch)",
            )
        metrics.batch_size.observe(len(records))
        runtime = served.runtime
        started = time.perf_counter()
        outputs, errors = await run_in_threadpool(_predict, runtime, records)
        if errors:
            shown = "; ".join(e["message"] for e in errors[:3])
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            raise HTTPProblem(422, f"{len(errors)} invalid field(s): {shown}{more}", errors)
        latency_ms = (time.perf_counter() - started) * 1000.0
        name, number = served.name, served.number
        answers = [
            {
                "prediction_id": uuid.uuid4().hex,
                "model": name,
                "version": number,
                **out,
                "fallback": False,
            }
            for out in outputs
        ]
        metrics.predictions.labels(name, str(number)).inc(len(answers))
        if state["log"] is not None:
            log_rows(served, records, answers, latency_ms / len(records))
        return _json(answers[0] if single else answers)

    def log_rows(
        served: ServedModel, records: list[Any], answers: list[dict[str, Any]], latency_ms: float
    ) -> None:
        names = served.runtime.signature.input_names
        now = datetime.now(UTC)
        rows = [
            {
                "prediction_id": a["prediction_id"],
                "model": a["model"],
                "version": a["version"],
                "ts": now,
                "inputs": {n: r.get(n) for n in names},
                "prediction": a.get("label", a.get("value")),
                "probabilities": a.get("probabilities"),
                "latency_ms": latency_ms,
                "fallback": False,
            }
            for r, a in zip(records, answers)
        ]
        try:
            state["log"].append(rows)
            metrics.predictions_logged.inc(len(rows))
        except (
            Exception
        ) as exc:  # the answer is already computed; losing a log row must not fail it
            metrics.errors.labels("prediction_log", type(exc).__name__).inc()
            log.error("prediction log: %s", exc)

    async def feedback_handler(request: Request, served: ServedModel | None) -> Response:
        authorize(request, "feedback")
        data = await read_json(request)
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
        from conveyor.serve.feedback import record_feedback

        model = served.name if served is not None else None
        changed = await run_in_threadpool(
            lambda: record_feedback(project.metadata, prediction_id=pid, actual=actual, model=model)
        )
        return _json({"prediction_id": pid, "recorded": True, "changed": changed})

    async def models_handler(request: Request, served: ServedModel | None) -> Response:
        authorize(request, "predict")
        if served is None:
            return _json({"ref": holder.ref, "models": []})
        sig = served.runtime.signature
        return _json(
            {
                "ref": holder.ref,
                "models": [
                    {
                        "name": served.name,
                        "version": served.number,
                        "engine": served.runtime.engine,
                        "loaded_at": served.loaded_at,
                        "task": sig.task,
                        "classes": sig.classes,
                        "threshold": sig.threshold,
                        "manifest_digest": served.version.manifest_digest,
                        "inputs": [f.model_dump(exclude={"dtype"}) for f in sig.inputs],
                    }
                ],
            }
        )

    @app.post("/v1/predict", openapi_extra=predict_openapi(None, cfg.max_batch))
    async def predict(request: Request) -> Response:
        return await guarded("predict", request, predict_handler)

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

    install_openapi(app, holder, cfg.max_batch)
    return app


def _predict(runtime: Any, records: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    columns, errors = runtime.validate(records)
    if errors:
        return [], [e.to_dict() for e in errors]
    return runtime.predict_columns(columns), []


# ---------------------------------------------------------------- OpenAPI from the signature


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (several workers): project and model from the env."""
    from conveyor.project import Project

    project = Project(os.environ.get(PROJECT_ENV, "."))
    cfg = project.config.serve
    model = os.environ.get(SERVE_MODEL_ENV)
    if model:
        cfg = cfg.model_copy(update={"model": model})
    return create_app(project, serve_config=cfg)
