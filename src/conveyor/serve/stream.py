"""Stream scoring (``conveyor stream``): read, score in small batches, write, then ack.

The loop is backend-neutral: a :class:`StreamBackend` reads messages, writes
results and dead letters, and acknowledges. Delivery is at-least-once: a
message is acknowledged only after its result (or its dead letter) was
written, so a consumer killed mid-batch leaves its messages pending and
another consumer takes them over (Redis: ``XAUTOCLAIM``; NATS JetStream:
redelivery after ``ack_wait``). A message may therefore be scored twice; the
result carries the source ``id`` so readers can de-duplicate.

Every result carries a ``prediction_id`` and, when a prediction log is given,
is logged like an HTTP prediction (``status`` ``"stream"``), so monitoring and
feedback (``POST /v1/feedback`` or ``conveyor feedback import``) cover stream
traffic too.

Each message body is one JSON object (a record). A body that is not JSON, not
an object, fails the model's signature, or makes the model raise goes to the
dead-letter output with the reason; the other records of the batch are scored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.bundle.runtime import InvalidRecords

if TYPE_CHECKING:
    import threading

    from conveyor.bundle.runtime import BundleRuntime
    from conveyor.stores.prediction_log import PredictionLog

__all__ = ["BatchReport", "Message", "StreamBackend", "StreamStats", "run_stream", "score_batch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One message read from the input.

    Attributes:
        id: the backend's id for it (Redis entry id, JetStream stream sequence).
        data: the body (a JSON object, when well-formed).
        error: set by the backend when the message cannot even be read as a body
            (e.g. a Redis entry without a ``data`` field); it goes to the dead letters.
    """

    id: str
    data: bytes
    error: str | None = None


class StreamBackend(Protocol):
    """What a stream transport provides to :func:`run_stream` (all coroutines)."""

    async def read(self, max_messages: int, block_ms: int) -> list[Message]:
        """Up to ``max_messages`` new messages, waiting at most ``block_ms`` for the first."""
        ...

    async def publish_results(self, results: Sequence[tuple[str, bytes]]) -> None:
        """Durably write ``(source_id, result JSON)`` pairs to the output."""
        ...

    async def dead_letter(self, failed: Sequence[tuple[str, bytes, str]]) -> None:
        """Durably write ``(source_id, original body, error)`` to the dead-letter output."""
        ...

    async def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge messages (they will not be delivered again)."""
        ...

    async def reclaim_pending(self, min_idle_ms: int) -> list[Message]:
        """Take over messages other consumers read but left unacked for ``min_idle_ms``."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...


@dataclass(frozen=True)
class BatchReport:
    """What one batch did (passed to ``on_batch``)."""

    read: int
    scored: int
    dead: int
    seconds: float


@dataclass
class StreamStats:
    """Totals of a :func:`run_stream` call."""

    read: int = 0
    scored: int = 0
    dead: int = 0
    batches: int = 0


def _parse(message: Message) -> tuple[dict[str, Any] | None, str | None]:
    if message.error is not None:
        return None, message.error
    try:
        value = json.loads(message.data)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"message {message.id}: body is not JSON ({exc})"
    if not isinstance(value, dict):
        return None, (
            f"message {message.id}: body must be a JSON object (one record), "
            f"got {type(value).__name__}"
        )
    return value, None


def _predict_each(
    runtime: BundleRuntime, records: list[dict[str, Any]]
) -> list[dict[str, Any] | str]:
    """Predict one record at a time: a poison record fails alone."""
    out: list[dict[str, Any] | str] = []
    for record in records:
        try:
            out.append(runtime.predict_records([record])[0])
        except InvalidRecords as exc:
            out.append("; ".join(e.message.replace("record 0", "record") for e in exc.errors))
        except Exception as exc:  # the model itself failed on this record
            out.append(f"model failed: {type(exc).__name__}: {exc}")
    return out


def score_batch(
    runtime: BundleRuntime, records: list[dict[str, Any]]
) -> list[dict[str, Any] | str]:
    """Predict ``records``; each entry is a prediction dict or an error string.

    Signature errors are attributed to their record and the rest is scored in
    one call; if the model raises for the batch, records are retried one by one.
    """
    results: list[dict[str, Any] | str | None] = [None] * len(records)
    todo = list(range(len(records)))
    if todo:
        _, errors = runtime.validate(records)
        bad: dict[int, list[str]] = {}
        for error in errors:
            bad.setdefault(error.index, []).append(error.message)
        for index, messages in bad.items():
            results[index] = "; ".join(messages)
        todo = [i for i in todo if i not in bad]
    if todo:
        batch = [records[i] for i in todo]
        try:
            predictions: list[Any] = runtime.predict_records(batch)
        except Exception as exc:
            log.warning("batch of %d failed (%s); scoring one by one", len(batch), exc)
            predictions = _predict_each(runtime, batch)
        for i, prediction in zip(todo, predictions, strict=True):
            results[i] = prediction
    return [r if r is not None else "not scored" for r in results]


def _stopped(stop: threading.Event | asyncio.Event | None) -> bool:
    return stop is not None and stop.is_set()


async def _process(
    backend: StreamBackend,
    runtime: BundleRuntime,
    messages: list[Message],
    *,
    model: str,
    version: int | None,
    prediction_log: PredictionLog | None = None,
) -> tuple[int, int]:
    dead: list[tuple[str, bytes, str]] = []
    good: list[tuple[Message, dict[str, Any]]] = []
    for message in messages:
        record, error = _parse(message)
        if record is None:
            dead.append((message.id, message.data, error or "unreadable"))
        else:
            good.append((message, record))
    # Scoring is CPU-bound: keep the event loop (and the backend's pings) alive.
    started = time.perf_counter()
    outcomes = await asyncio.to_thread(score_batch, runtime, [r for _, r in good])
    latency_ms = (time.perf_counter() - started) * 1000.0 / max(len(good), 1)
    results: list[tuple[str, bytes]] = []
    logged: list[dict[str, Any]] = []
    names = runtime.signature.input_names if prediction_log is not None else ()
    now = datetime.now(UTC)
    for (message, record), outcome in zip(good, outcomes, strict=True):
        if isinstance(outcome, str):
            dead.append((message.id, message.data, outcome))
            continue
        pid = uuid.uuid4().hex
        body = {"id": message.id, "prediction_id": pid, **outcome, "model": model,
                "version": version}  # fmt: skip
        results.append((message.id, json.dumps(body).encode()))
        if prediction_log is not None and version is not None:
            logged.append(
                {
                    "prediction_id": pid,
                    "model": model,
                    "version": version,
                    "ts": now,
                    "inputs": {n: record.get(n) for n in names},
                    "prediction": outcome.get("label", outcome.get("value")),
                    "probabilities": outcome.get("probabilities"),
                    "latency_ms": latency_ms,
                    "fallback": False,
                    "status": "stream",
                }
            )
    if results:
        await backend.publish_results(results)
    if dead:
        await backend.dead_letter(dead)
    if logged:
        try:
            prediction_log.append(logged)  # type: ignore[union-attr]
        except Exception as exc:  # results are written; a lost log row must not redeliver them
            log.error("prediction log: %d stream prediction(s) not logged: %s", len(logged), exc)
    # Only now is every message accounted for: a crash before this line redelivers.
    await backend.ack([m.id for m in messages])
    return len(results), len(dead)


async def run_stream(
    backend: StreamBackend,
    runtime: BundleRuntime,
    *,
    model: str = "",
    version: int | None = None,
    batch_size: int = 64,
    block_ms: int = 500,
    reclaim_idle_ms: int = 60_000,
    stop: threading.Event | asyncio.Event | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
    max_messages: int | None = None,
    prediction_log: PredictionLog | None = None,
) -> StreamStats:
    """Score messages from ``backend`` until ``stop`` is set.

    Args:
        backend: the transport (see :class:`StreamBackend`).
        runtime: the loaded model.
        model: model name written into every result.
        version: model version written into every result.
        batch_size: messages read and scored together.
        block_ms: how long one read waits for messages (also how quickly
            ``stop`` is noticed).
        reclaim_idle_ms: take over messages another consumer left unacked this
            long (checked at start and then at most this often).
        stop: set it to finish the current batch, acknowledge it and return.
        on_batch: called after each batch is acknowledged.
        max_messages: return once this many messages were handled (for tests).
        prediction_log: log every scored record here (status ``"stream"``); the
            caller closes it (which flushes).

    Returns:
        Totals of what was read, scored and dead-lettered.

    Raises:
        ValueError: ``batch_size`` or ``block_ms`` is not positive.
    """
    if batch_size < 1 or block_ms < 1:
        raise ValueError(f"batch_size and block_ms must be >= 1, got {batch_size} and {block_ms}")
    stats = StreamStats()
    next_reclaim = 0.0
    while not _stopped(stop):
        if max_messages is not None and stats.read >= max_messages:
            break
        messages: list[Message] = []
        if time.monotonic() >= next_reclaim:
            messages = await backend.reclaim_pending(reclaim_idle_ms)
            if not messages:  # keep claiming while a dead consumer's backlog lasts
                next_reclaim = time.monotonic() + max(reclaim_idle_ms, 1000) / 1000
        if not messages:
            messages = await backend.read(batch_size, block_ms)
        if not messages:
            continue
        started = time.perf_counter()
        scored, dead = await _process(
            backend, runtime, messages, model=model, version=version, prediction_log=prediction_log
        )
        stats.read += len(messages)
        stats.scored += scored
        stats.dead += dead
        stats.batches += 1
        if on_batch is not None:
            on_batch(BatchReport(len(messages), scored, dead, time.perf_counter() - started))
    return stats
