"""Micro-batching: concurrent prediction requests scored together in one call.

Scoring one record costs nearly as much as scoring dozens (validation and
ONNX have a fixed cost per call), so under concurrency the service gathers the
requests that arrive together and scores them in ONE ``predict_fn`` call.

When a batch is dispatched:

- **Never later than** ``max_wait_ms`` after its first request was queued, and
  at once when ``max_batch`` records are queued.
- **Not waiting on silence:** the batcher gathers one event-loop turn at a
  time and dispatches as soon as a turn brings no new request. A lone request
  on an idle server is scored right away (no added latency at concurrency 1);
  requests that arrive together (read from their sockets in the same turns)
  share a batch.
- While a batch is being scored in a worker thread the next one gathers, so
  batches grow with load by themselves.

Contract with the caller:

- **Prepare per caller before batching.** A batch mixes requests; an error
  raised by ``predict_fn`` cannot say whose record broke it and is delivered
  to every caller of that batch. So bad input must be rejected before it joins
  a batch: ``prepare`` (e.g. validation into columns) runs in
  :meth:`MicroBatcher.submit` for that caller only; its exception (e.g.
  ``InvalidRecords``) reaches that caller alone and nothing is queued. What it
  returns is what gets batched (``None`` means the records themselves).
- ``combine(payloads)`` turns the queued payloads of one batch into the single
  argument of ``predict_fn`` (default: the records concatenated).
- ``predict_fn(batch)`` returns one result per record, in order; each caller
  gets exactly the slice for its own records.
- An exception from ``predict_fn`` is raised to every caller of that batch
  (the same exception object, so the same type); other batches are unaffected.
- A submission is never split: if it alone holds more than ``max_batch``
  records it is scored as a batch of its own.
- ``inline=True`` calls ``predict_fn`` on the event loop itself: right for a
  sub-millisecond engine (ONNX), where handing work to a thread costs more than
  the work. Otherwise it runs in a worker thread so the loop keeps accepting.
- :meth:`MicroBatcher.close` stops accepting work and waits until everything
  already submitted has been scored.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.errors import ConfigError, ServeError

__all__ = ["MicroBatcher", "MicroBatcherStats", "concat_records"]

PredictFn = Callable[[Any], Sequence[dict[str, Any]]]
PrepareFn = Callable[[list[dict[str, Any]]], Any]
CombineFn = Callable[[list[Any]], Any]


def concat_records(payloads: list[Any]) -> list[dict[str, Any]]:
    """The default ``combine``: the queued record lists, concatenated in order."""
    return [r for records in payloads for r in records]


@dataclass
class MicroBatcherStats:
    """Counters since the batcher was created.

    Attributes:
        submissions: calls to :meth:`MicroBatcher.submit` that were queued.
        batches: calls made to ``predict_fn``.
        records: records scored.
        largest_batch: most records in one ``predict_fn`` call.
    """

    submissions: int = 0
    batches: int = 0
    records: int = 0
    largest_batch: int = 0


@dataclass
class _Job:
    payload: Any
    size: int
    future: asyncio.Future[list[dict[str, Any]]]
    enqueued: float


class MicroBatcher:
    """Gather concurrent :meth:`submit` calls into batched ``predict_fn`` calls.

    Args:
        predict_fn: scores one combined batch, returning one result per record
            in order (e.g. ``BundleRuntime.predict_records``). One batch at a
            time, in a worker thread unless ``inline``.
        max_wait_ms: the longest a submission waits for others to join its
            batch (measured from when it was queued); the wait ends earlier as
            soon as an event-loop turn brings no new submission.
        max_batch: most records per ``predict_fn`` call (a larger single
            submission is scored alone).
        prepare: called in :meth:`submit` with the caller's records before
            they are queued; whatever it raises goes to that caller only; what
            it returns is queued (``None``: the records).
        combine: the queued payloads of a batch -> the argument of
            ``predict_fn`` (default :func:`concat_records`).
        inline: call ``predict_fn`` on the event loop (for engines faster
            than a thread hand-off).
        on_batch: called with the number of records of each batch (metrics).

    Example:
        >>> batcher = MicroBatcher(runtime.predict_records, prepare=runtime.check_records)  # doctest: +SKIP
        >>> results = await batcher.submit([{"tenure": 3, ...}])  # doctest: +SKIP
        >>> await batcher.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        predict_fn: PredictFn,
        *,
        max_wait_ms: float = 2.0,
        max_batch: int = 64,
        prepare: PrepareFn | None = None,
        combine: CombineFn = concat_records,
        inline: bool = False,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        if not callable(predict_fn):
            raise ConfigError(
                f"MicroBatcher: predict_fn must be callable, got {type(predict_fn).__name__}"
            )
        if not max_wait_ms >= 0:
            raise ConfigError(f"MicroBatcher: max_wait_ms must be >= 0, got {max_wait_ms!r}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"MicroBatcher: max_batch must be an integer >= 1, got {max_batch!r}")
        self._predict_fn = predict_fn
        self._prepare = prepare
        self._combine = combine
        self._inline = inline
        self._on_batch = on_batch
        self._max_wait = max_wait_ms / 1000.0
        self._max_batch = max_batch
        self._pending: deque[_Job] = deque()
        self._pending_records = 0
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = MicroBatcherStats()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (no new submissions)."""
        return self._closing

    @property
    def pending(self) -> int:
        """Records queued and not yet handed to ``predict_fn``."""
        return self._pending_records

    async def submit(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Score ``records`` as part of a batch; returns exactly their results, in order.

        Raises:
            ServeError: the batcher is closed, or ``predict_fn`` returned the
                wrong number of results.
            Exception: whatever ``prepare`` raised (for these records only) or
                ``predict_fn`` raised (for the whole batch).
        """
        if self._closing:
            raise ServeError(
                "the micro-batcher is closed; it accepts no new predictions",
                hint="the service is shutting down; retry on another instance",
            )
        records = list(records)
        payload = self._prepare(records) if self._prepare is not None else None
        if not records:
            return []
        loop = asyncio.get_running_loop()
        self._start(loop)  # the new worker first runs after this job is queued
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        job = _Job(records if payload is None else payload, len(records), future, loop.time())
        self._pending.append(job)
        self._pending_records += len(records)
        self.stats.submissions += 1
        return await future

    async def close(self) -> None:
        """Stop accepting submissions and wait until every queued one is answered (idempotent)."""
        self._closing = True
        if self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    # ------------------------------------------------------------ worker

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the worker if it is not running (it stops whenever the queue is empty)."""
        if self._worker is not None and not self._worker.done():
            if self._worker.get_loop() is not loop:
                raise ServeError(
                    "MicroBatcher: submit() called from a second event loop",
                    hint="create the batcher where it is used (e.g. in the app's lifespan)",
                )
            return
        self._worker = loop.create_task(self._run(), name="conveyor-microbatcher")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                await self._gather(loop)
                batch = self._take()
                if batch:
                    await self._score(batch)
        finally:
            # Only reached with work left if the worker itself was cancelled.
            self._fail_pending(ServeError("the micro-batcher stopped before scoring this request"))

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Gather turn by turn until a turn adds nothing, the batch is full, max_wait or closing."""
        deadline = self._pending[0].enqueued + self._max_wait
        while self._pending_records < self._max_batch and not self._closing:
            if loop.time() >= deadline:
                return
            before = self.stats.submissions
            # Two turns: a request read from its socket in this turn submits in the next.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if self.stats.submissions == before:
                return

    def _take(self) -> list[_Job]:
        batch: list[_Job] = []
        size = 0
        while self._pending:
            job = self._pending[0]
            if batch and size + job.size > self._max_batch:
                break
            self._pending.popleft()
            self._pending_records -= job.size
            if job.future.done():  # the caller went away (cancelled): do not score it
                continue
            batch.append(job)
            size += job.size
        return batch

    async def _score(self, batch: list[_Job]) -> None:
        size = sum(job.size for job in batch)
        self.stats.batches += 1
        self.stats.records += size
        self.stats.largest_batch = max(self.stats.largest_batch, size)
        if self._on_batch is not None:
            self._on_batch(size)
        try:
            combined = self._combine([job.payload for job in batch])
            if self._inline:
                results = self._predict_fn(combined)
            else:
                results = await asyncio.to_thread(self._predict_fn, combined)
            if len(results) != size:
                raise ServeError(
                    f"micro-batcher: predict_fn returned {len(results)} results for {size} records",
                    hint="predict_fn must return one result per record, in order",
                )
        except Exception as exc:
            _fail(batch, exc)
            return
        except asyncio.CancelledError:
            _fail(batch, ServeError("the micro-batcher stopped while scoring this request"))
            raise
        start = 0
        for job in batch:
            end = start + job.size
            if not job.future.done():
                job.future.set_result(list(results[start:end]))
            start = end

    def _fail_pending(self, exc: Exception) -> None:
        _fail(list(self._pending), exc)
        self._pending.clear()
        self._pending_records = 0


def _fail(jobs: list[_Job], exc: Exception) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(exc)
