"""``POST /v1/predict``: canary routing, fallbacks, shadow scoring and the prediction log.

Per request: the records are validated and scored by the model that answers
them (the champion, or the challenger for the canary share); a model error,
a blown latency budget or a low-confidence answer is replaced by a fallback
(see :mod:`conveyor.serve.fallback`); validation errors are always a 422 and
never a fallback. Shadow scoring runs after the response is sent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from conveyor.bundle.runtime import InvalidRecords
from conveyor.serve._http import HTTPProblem, ServeContext, authorize, json_response, read_json
from conveyor.serve.microbatch import MicroBatcher
from conveyor.serve.routing import REQUEST_KEY_HEADER, record_keys

if TYPE_CHECKING:
    from conveyor.serve.model_holder import ServedModel

__all__ = ["close_batchers", "predict_handler"]

log = logging.getLogger("conveyor.serve")


class _PredictionIds:
    """Unique 32-hex-digit prediction ids: a random 64-bit prefix per process and a counter.

    A fifth of the cost of ``uuid4().hex``; unique across worker processes
    (each draws its own prefix, also after a fork) and across restarts.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._count = itertools.count()

    def next(self) -> str:
        if self._pid != os.getpid():
            self._pid, self._prefix, self._count = (
                os.getpid(),
                os.urandom(8).hex(),
                itertools.count(),
            )
        return f"{self._prefix}{next(self._count):016x}"


_prediction_ids = _PredictionIds()


@dataclass
class _Group:
    """The records one model answers, by their position in the request."""

    model: ServedModel
    indices: list[int]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    pending: Any = None  # the model's still-running answer after a blown latency budget


def _validate(runtime: Any, records: list[Any]) -> tuple[Any, list[dict[str, Any]]]:
    columns, errors = runtime.validate(records)
    return columns, [e.to_dict() for e in errors]


def _score(runtime: Any, records: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    columns, errors = _validate(runtime, records)
    if errors:
        return [], errors
    return runtime.predict_columns(columns), []


def _prepare(runtime: Any, records: list[Any]) -> dict[str, list[Any]]:
    """Validate one request's records into columns; its errors go to that request alone."""
    columns, errors = runtime.validate(records)
    if errors:
        raise InvalidRecords(errors)
    return columns


def _merge_columns(payloads: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    if len(payloads) == 1:
        return payloads[0]
    return {name: [v for p in payloads for v in p[name]] for name in payloads[0]}


def _batcher(ctx: ServeContext, served: ServedModel) -> MicroBatcher:
    """The micro-batcher of ``served`` (one per loaded model version, made on first use)."""
    batchers: dict[int, tuple[Any, MicroBatcher]] = ctx.state.setdefault("batchers", {})
    runtime = served.runtime
    entry = batchers.get(id(runtime))
    if entry is not None and entry[0] is runtime:
        return entry[1]
    # Forget batchers of versions no longer served; requests still waiting on one
    # hold it and are answered by it.
    live = {id(m.runtime) for m in (ctx.holder.current, ctx.holder.challenger) if m is not None}
    for key in [k for k in batchers if k not in live]:
        del batchers[key]
    opts = ctx.cfg.batching
    batcher = MicroBatcher(
        runtime.predict_columns,
        max_wait_ms=opts.max_wait_ms,
        max_batch=opts.max_batch,
        prepare=lambda records: _prepare(runtime, records),
        combine=_merge_columns,
        # ONNX answers in microseconds: a thread hand-off would cost more than the work.
        inline=runtime.engine == "onnx",
        on_batch=ctx.metrics.microbatch_size.observe,
    )
    batchers[id(runtime)] = (runtime, batcher)
    return batcher


async def close_batchers(ctx: ServeContext) -> None:
    """Answer every request queued for batching (at shutdown, before the log is flushed)."""
    for _, batcher in list(ctx.state.get("batchers", {}).values()):
        await batcher.close()


async def _score_async(
    ctx: ServeContext, served: ServedModel, records: list[Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(outputs, errors) for ``records``: micro-batched with concurrent requests when enabled."""
    if not ctx.cfg.batching.enabled or len(records) > ctx.cfg.batching.max_batch:
        # A large request is a batch already; validate it off the event loop.
        return await run_in_threadpool(_score, served.runtime, records)
    batcher = _batcher(ctx, served)
    try:
        return await batcher.submit(records), []
    except InvalidRecords as exc:
        return [], [e.to_dict() for e in exc.errors]


async def _run_group(
    ctx: ServeContext, group: _Group, records: list[Any]
) -> tuple[list[dict[str, Any]], str | None, BaseException | None]:
    """Score one group: (errors, fallback reason for the whole group, model exception)."""
    runtime = group.model.runtime
    sub = [records[i] for i in group.indices]
    policy = ctx.fallback
    started = time.perf_counter()
    if not policy.enabled:
        group.outputs, errors = await _score_async(ctx, group.model, sub)
        group.latency_ms = (time.perf_counter() - started) * 1000.0
        return errors, None, None
    pending = asyncio.ensure_future(_score_async(ctx, group.model, sub))
    try:
        # shield: past the budget the answer is replaced, but it stays awaitable
        # for records no fallback source can answer.
        group.outputs, errors = await asyncio.wait_for(
            asyncio.shield(pending), policy.latency_budget_s
        )
    except TimeoutError:
        _, errors = await run_in_threadpool(_validate, runtime, sub)
        group.latency_ms = (time.perf_counter() - started) * 1000.0
        if errors:
            return errors, None, None
        group.outputs = []
        group.pending = pending
        return [], "latency", None
    except Exception as exc:  # the model raised after validation passed (validation never raises)
        group.latency_ms = (time.perf_counter() - started) * 1000.0
        return [], "error", exc
    group.latency_ms = (time.perf_counter() - started) * 1000.0
    budget_s = policy.latency_budget_s
    if not errors and budget_s is not None and group.latency_ms > budget_s * 1000.0:
        # The answer came back, but after the budget (the timer and the worker thread
        # raced): the budget decides, the same way whichever finished first.
        group.outputs = []
        group.pending = pending
        return [], "latency", None
    return errors, None, None


def _previous_predict(ctx: ServeContext) -> Any:
    def predict(records: list[Any]) -> tuple[int, list[dict[str, Any]]]:
        previous = ctx.holder.previous()
        if previous is None:
            raise LookupError(f"{ctx.holder.ref} has no previous version")
        return previous.number, previous.runtime.predict_records(records)

    return predict


async def _apply_fallbacks(
    ctx: ServeContext,
    group: _Group,
    records: list[Any],
    reason: str | None,
    exc: BaseException | None,
) -> dict[int, dict[str, Any]]:
    """Outputs by request position, fallbacks in place of failed or unsure answers."""
    policy = ctx.fallback
    previous = _previous_predict(ctx)
    if reason is not None:
        found = await run_in_threadpool(
            lambda: policy.answers(records, group.indices, reason, previous=previous)
        )
        missing = [i for i in group.indices if i not in found]
        if missing and exc is not None:
            raise exc
        if missing:  # no source answers these: wait for the model after all
            group.outputs, _ = await group.pending
            found.update((i, group.outputs[k]) for k, i in enumerate(group.indices) if i in missing)
        return found
    result = dict(zip(group.indices, group.outputs, strict=True))
    unsure = [i for i in group.indices if policy.low_confidence(result[i])]
    if unsure and policy.enabled:
        found = await run_in_threadpool(
            lambda: policy.answers(records, unsure, "low_confidence", previous=previous)
        )
        result.update(found)
    return result


async def predict_handler(
    ctx: ServeContext, request: Request, served: ServedModel | None
) -> Response:
    """Answer ``POST /v1/predict`` (see the module docstring)."""
    cfg, metrics, holder = ctx.cfg, ctx.metrics, ctx.holder
    authorize(request, ctx.keys, "predict")
    data = await read_json(request, cfg.max_body_bytes)
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
    challenger = holder.challenger
    to_challenger = [False] * len(records)
    if ctx.router is not None and challenger is not None and cfg.canary is not None:
        keys = record_keys(
            records, header=request.headers.get(REQUEST_KEY_HEADER), key_field=cfg.canary.key_field
        )
        to_challenger = ctx.router.split(keys)
    groups = [
        _Group(model, [i for i, c in enumerate(to_challenger) if c == flag])
        for model, flag in ((served, False), (challenger, True))
        if model is not None
    ]
    groups = [g for g in groups if g.indices]
    runs = [await _run_group(ctx, g, records) for g in groups]
    errors = [{**e, "index": g.indices[e["index"]]} for g, run in zip(groups, runs) for e in run[0]]
    if errors:
        errors.sort(key=lambda e: e["index"])
        shown = "; ".join(e["message"] for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise HTTPProblem(422, f"{len(errors)} invalid field(s): {shown}{more}", errors)
    answers: list[dict[str, Any]] = [{} for _ in records]
    owner: list[_Group] = [groups[0]] * len(records)
    for g, (_, reason, exc) in zip(groups, runs):
        outputs = await _apply_fallbacks(ctx, g, records, reason, exc)
        for i in g.indices:
            out = dict(outputs[i])
            owner[i] = g
            answers[i] = {
                "prediction_id": _prediction_ids.next(),
                "model": g.model.name,
                "version": out.pop("version", g.model.number),
                **out,
                "fallback": "fallback_reason" in out,
            }
    fell_back = 0
    for a in answers:
        metrics.child(metrics.predictions, a["model"], str(a["version"])).inc()
        if a["fallback"]:
            fell_back += 1
            metrics.child(metrics.fallbacks, a["fallback_reason"]).inc()
    heartbeat = ctx.state.get("heartbeat")
    if heartbeat is not None:
        heartbeat.window.records += len(answers)
        heartbeat.window.fallbacks += fell_back
    if ctx.state["log"] is not None:
        _log_rows(ctx, records, answers, owner)
    background = None
    if cfg.shadow is not None and challenger is not None:
        shadowed = [i for i, c in enumerate(to_challenger) if not c]
        if shadowed:
            background = BackgroundTask(_shadow, ctx, challenger, records, answers, shadowed)
    return json_response(answers[0] if single else answers, background=background)


def _log_rows(
    ctx: ServeContext,
    records: list[Any],
    answers: list[dict[str, Any]],
    owner: list[_Group],
    *,
    status: str = "ok",
) -> None:
    now = datetime.now(UTC)
    rows = []
    for record, answer, group in zip(records, answers, owner):
        names = group.model.runtime.signature.input_names
        rows.append(
            {
                "prediction_id": answer["prediction_id"],
                "model": answer["model"],
                "version": answer["version"],
                "ts": now,
                "inputs": {n: record.get(n) for n in names},
                "prediction": answer.get("label", answer.get("value")),
                "probabilities": answer.get("probabilities"),
                "latency_ms": group.latency_ms / max(len(group.indices), 1),
                "fallback": answer.get("fallback", False),
                "status": status,
            }
        )
    try:
        ctx.state["log"].append(rows)
        ctx.metrics.predictions_logged.inc(len(rows))
    except Exception as exc:  # the answer is already computed; losing a log row must not fail it
        ctx.metrics.errors.labels("prediction_log", type(exc).__name__).inc()
        log.error("prediction log: %s", exc)


def _shadow(
    ctx: ServeContext,
    challenger: ServedModel,
    records: list[Any],
    answers: list[dict[str, Any]],
    indices: list[int],
) -> None:
    """Score the challenger on the champion's records and log it; runs after the response."""
    sub = [records[i] for i in indices]
    started = time.perf_counter()
    try:
        outputs, errors = _score(challenger.runtime, sub)
    except Exception as exc:  # off the response path: count and log, never raise
        ctx.metrics.errors.labels("shadow", type(exc).__name__).inc()
        log.warning("shadow %s v%d failed: %s", challenger.name, challenger.number, exc)
        return
    if errors:
        ctx.metrics.errors.labels("shadow", "invalid_record").inc()
        log.warning("shadow %s v%d rejected the records: %s", challenger.name, challenger.number,
                    errors[0]["message"])  # fmt: skip
        return
    group = _Group(challenger, indices, outputs, (time.perf_counter() - started) * 1000.0)
    shadow_answers = [
        {
            "prediction_id": f"{answers[i]['prediction_id']}-shadow",
            "model": challenger.name,
            "version": challenger.number,
            **out,
        }
        for i, out in zip(indices, outputs, strict=True)
    ]
    ctx.metrics.shadow_predictions.labels(challenger.name, str(challenger.number)).inc(len(sub))
    if ctx.state["log"] is not None:
        _log_rows(ctx, sub, shadow_answers, [group] * len(sub), status="shadow")
