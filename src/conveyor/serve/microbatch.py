"""Micro-batching: concurrent prediction requests scored together in one call.

Scoring one record costs nearly as much as scoring dozens (validation and
ONNX have a fixed cost per call), so under concurrency the service gathers the
requests that arrive within ``max_wait_ms`` (or until ``max_batch`` records)
and scores them in ONE ``predict_fn`` call, run in a worker thread so the event
loop keeps accepting requests. While a batch is being scored the next one
gathers, so batches grow with load by themselves.

Contract with the caller:

- **Validate per caller before batching.** A batch mixes requests; an error
  raised by ``predict_fn`` cannot say whose record broke it and is delivered
  to every caller of that batch. So bad input must be rejected before it joins
  a batch: pass ``validate`` (e.g. :meth:`BundleRuntime.check_records`), which
  runs in :meth:`MicroBatcher.submit` for that caller only; its exception
  (e.g. ``InvalidRecords``) reaches that caller alone and nothing is queued.
- ``predict_fn(records)`` returns one result per record, in order; each caller
  gets exactly the slice for its own records.
- An exception from ``predict_fn`` is raised to every caller of that batch
  (the same exception object, so the same type); other batches are unaffected.
- A submission is never split: if it alone holds more than ``max_batch``
  records it is scored as a batch of its own.
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

__all__ = ["MicroBatcher", "MicroBatcherStats"]

PredictFn = Callable[[list[dict[str, Any]]], Sequence[dict[str, Any]]]
ValidateFn = Callable[[list[dict[str, Any]]], object]


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
    records: list[dict[str, Any]]
    future: asyncio.Future[list[dict[str, Any]]]
    enqueued: float


class MicroBatcher:
    """Gather concurrent :meth:`submit` calls into batched ``predict_fn`` calls.

    Args:
        predict_fn: scores a list of records, returning one result per record
            in order (e.g. ``BundleRuntime.predict_records``). Called from a
            worker thread, one batch at a time.
        max_wait_ms: the longest a submission waits for others to join its
            batch (measured from when it was queued).
        max_batch: most records per ``predict_fn`` call (a larger single
            submission is scored alone).
        validate: called in :meth:`submit` with the caller's records before
            they are queued; whatever it raises goes to that caller only.

    Example:
        >>> batcher = MicroBatcher(runtime.predict_records, validate=runtime.check_records)  # doctest: +SKIP
        >>> results = await batcher.submit([{"tenure": 3, ...}])  # doctest: +SKIP
        >>> await batcher.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        predict_fn: PredictFn,
        *,
        max_wait_ms: float = 2.0,
        max_batch: int = 64,
        validate: ValidateFn | None = None,
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
        self._validate = validate
        self._max_wait = max_wait_ms / 1000.0
        self._max_batch = max_batch
        self._pending: deque[_Job] = deque()
        self._pending_records = 0
        self._wakeup: asyncio.Event | None = None
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
            Exception: whatever ``validate`` raised (for these records only) or
                ``predict_fn`` raised (for the whole batch).
        """
        if self._closing:
            raise ServeError(
                "the micro-batcher is closed; it accepts no new predictions",
                hint="the service is shutting down; retry on another instance",
            )
        records = list(records)
        if self._validate is not None:
            self._validate(records)
        if not records:
            return []
        loop = asyncio.get_running_loop()
        self._start(loop)
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        self._pending.append(_Job(records, future, loop.time()))
        self._pending_records += len(records)
        self.stats.submissions += 1
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Stop accepting submissions and wait until every queued one is answered (idempotent)."""
        self._closing = True
        if self._worker is None:
            return
        assert self._wakeup is not None
        self._wakeup.set()
        await asyncio.shield(self._worker)

    # ------------------------------------------------------------ worker

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._worker is not None and not self._worker.done():
            if self._worker.get_loop() is not loop:
                raise ServeError(
                    "MicroBatcher: submit() called from a second event loop",
                    hint="create the batcher where it is used (e.g. in the app's lifespan)",
                )
            return
        self._wakeup = asyncio.Event()
        self._worker = loop.create_task(self._run(), name="conveyor-microbatcher")

    async def _run(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._pending:
                    if self._closing:
                        return
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                await self._gather(wakeup, loop)
                batch = self._take()
                if batch:
                    await self._score(batch)
        finally:
            # Only reached with work left if the worker itself was cancelled.
            self._fail_pending(ServeError("the micro-batcher stopped before scoring this request"))

    async def _gather(self, wakeup: asyncio.Event, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the batch is full, the oldest job waited max_wait, or closing."""
        deadline = self._pending[0].enqueued + self._max_wait
        while self._pending_records < self._max_batch and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            wakeup.clear()
            try:
                async with asyncio.timeout(remaining):
                    await wakeup.wait()
            except TimeoutError:
                return

    def _take(self) -> list[_Job]:
        batch: list[_Job] = []
        size = 0
        while self._pending:
            job = self._pending[0]
            if batch and size + len(job.records) > self._max_batch:
                break
            self._pending.popleft()
            self._pending_records -= len(job.records)
            if job.future.done():  # the caller went away (cancelled): do not score it
                continue
            batch.append(job)
            size += len(job.records)
        return batch

    async def _score(self, batch: list[_Job]) -> None:
        records = [r for job in batch for r in job.records]
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.largest_batch = max(self.stats.largest_batch, len(records))
        try:
            results = await asyncio.to_thread(self._predict_fn, records)
            if len(results) != len(records):
                raise ServeError(
                    f"micro-batcher: predict_fn returned {len(results)} results for "
                    f"{len(records)} records",
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
            end = start + len(job.records)
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
