"""Behaviour every stream backend of ``conveyor stream`` must show (Redis, NATS, …).

Each check is a coroutine function taking a :class:`StreamHarness` bound to
fresh, unique input/output names::

    @pytest.mark.parametrize("check", STREAM_CHECKS, ids=lambda c: c.__name__)
    def test_redis(check, harness):
        asyncio.run(check(harness))

The harness produces input messages, makes backends (each a new consumer on
the same group/durable, already connected) and reads back what the backends
wrote. Checks use plain ``assert``; they score with :class:`ToyRuntime`, so no
trained model is needed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any, Protocol

from conveyor.bundle import FieldError
from conveyor.bundle.runtime import InvalidRecords
from conveyor.serve.stream import Message, StreamBackend, run_stream

__all__ = ["STREAM_CHECKS", "StreamCheck", "StreamHarness", "ToyRuntime"]


class StreamHarness(Protocol):
    """Access to one backend's server for the checks."""

    async def produce(self, bodies: Sequence[bytes]) -> list[str]:
        """Add input messages; returns their ids as the backend will report them."""
        ...

    async def make_backend(self) -> StreamBackend:
        """A new, connected consumer (fast redelivery: idle/ack-wait of about a second)."""
        ...

    async def results(self) -> list[dict[str, Any]]:
        """Every result written so far (the decoded JSON bodies, with ``id``)."""
        ...

    async def dead(self) -> list[tuple[str, str]]:
        """Every dead letter written so far as ``(source_id, error)``."""
        ...


StreamCheck = Callable[[StreamHarness], Awaitable[None]]


class ToyRuntime:
    """A stand-in for :class:`~conveyor.bundle.BundleRuntime`: records ``{"x": int}``.

    ``x`` missing or not an int is a signature error; ``x == 13`` makes the
    "model" raise (a poison record); otherwise the label is ``"odd"``/``"even"``.
    """

    engine = "python"
    signature = SimpleNamespace(input_names=("x",))

    def validate(self, records: Sequence[dict[str, Any]]) -> tuple[dict, list[FieldError]]:
        errors = [
            FieldError(i, "x", "type", f"record {i}: field 'x' must be an integer")
            for i, r in enumerate(records)
            if not isinstance(r.get("x"), int) or isinstance(r.get("x"), bool)
        ]
        return {"x": [r.get("x") for r in records]}, errors

    def predict_records(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        _, errors = self.validate(records)
        if errors:
            raise InvalidRecords(errors)
        if any(r["x"] == 13 for r in records):
            raise RuntimeError("x=13 breaks the model")
        return [{"label": "odd" if r["x"] % 2 else "even"} for r in records]


async def _drain(backend: StreamBackend, *, want: int, seconds: float) -> list[Message]:
    """Read (and reclaim) until ``want`` messages arrived or time is up."""
    got: list[Message] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        got += await backend.reclaim_pending(200)
        got += await backend.read(want - len(got) or 1, 200)
    return got


async def check_read_returns_produced(h: StreamHarness) -> None:
    ids = await h.produce([b'{"x": 1}', b'{"x": 2}', b"not json"])
    backend = await h.make_backend()
    try:
        got = await _drain(backend, want=3, seconds=5)
        assert [m.id for m in got] == ids, (ids, got)
        assert [m.data for m in got] == [b'{"x": 1}', b'{"x": 2}', b"not json"]
        await backend.ack(ids)
    finally:
        await backend.close()


async def check_acked_not_redelivered(h: StreamHarness) -> None:
    ids = await h.produce([b'{"x": 1}', b'{"x": 2}'])
    first = await h.make_backend()
    try:
        got = await _drain(first, want=2, seconds=5)
        await first.ack([m.id for m in got])
    finally:
        await first.close()
    await asyncio.sleep(1.5)  # longer than the harness's idle / ack-wait
    second = await h.make_backend()
    try:
        again = await _drain(second, want=1, seconds=2)
        assert again == [], f"acked messages {ids} came back: {again}"
    finally:
        await second.close()


async def check_unacked_taken_over(h: StreamHarness) -> None:
    ids = await h.produce([b'{"x": 1}', b'{"x": 2}', b'{"x": 3}'])
    dead = await h.make_backend()
    try:
        got = await _drain(dead, want=3, seconds=5)
        assert len(got) == 3
    finally:
        await dead.close()  # "dies" without acking
    survivor = await h.make_backend()
    try:
        again = await _drain(survivor, want=3, seconds=10)
        assert sorted(m.id for m in again) == sorted(ids), (ids, again)
        await survivor.ack(ids)
    finally:
        await survivor.close()


async def check_results_and_dead_letters_written(h: StreamHarness) -> None:
    backend = await h.make_backend()
    try:
        await backend.publish_results([("a-1", json.dumps({"id": "a-1", "label": "x"}).encode())])
        await backend.dead_letter([("a-2", b"\xff not utf-8", "body is not JSON")])
    finally:
        await backend.close()
    results = await h.results()
    assert [r["id"] for r in results] == ["a-1"] and results[0]["label"] == "x", results
    assert await h.dead() == [("a-2", "body is not JSON")]


async def check_run_stream_routes_every_message(h: StreamHarness) -> None:
    bodies = [
        b'{"x": 1}',
        b'{"x": 2}',
        b"{broken",
        b"[1, 2]",
        b'{"x": "seven"}',
        b'{"x": 13}',
        b'{"x": 4}',
    ]
    ids = await h.produce(bodies)
    backend = await h.make_backend()
    try:
        stats = await run_stream(
            backend,
            ToyRuntime(),  # type: ignore[arg-type]
            model="toy",
            version=1,
            batch_size=4,
            block_ms=100,
            max_messages=len(bodies),
        )
    finally:
        await backend.close()
    # At-least-once: on a loaded machine a slow batch may be redelivered and counted twice.
    assert stats.read >= 7 and stats.scored >= 3 and stats.dead >= 4, stats
    results = {r["id"]: r for r in await h.results()}
    assert set(results) == {ids[0], ids[1], ids[6]}, results
    first = dict(results[ids[0]])
    assert len(first.pop("prediction_id")) == 32  # a fresh uuid4 hex per result
    assert first == {"id": ids[0], "label": "odd", "model": "toy", "version": 1}
    dead = dict(await h.dead())
    assert set(dead) == {ids[2], ids[3], ids[4], ids[5]}, dead
    assert "not JSON" in dead[ids[2]]
    assert "JSON object" in dead[ids[3]] and "list" in dead[ids[3]]
    assert "'x' must be an integer" in dead[ids[4]]
    assert "x=13 breaks the model" in dead[ids[5]]
    # Everything was acked: a new consumer finds nothing, even after the idle time.
    await asyncio.sleep(1.5)
    later = await h.make_backend()
    try:
        assert await _drain(later, want=1, seconds=1.5) == []
    finally:
        await later.close()


async def check_stop_returns_promptly(h: StreamHarness) -> None:
    backend = await h.make_backend()
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(run_stream(backend, ToyRuntime(), block_ms=200, stop=stop))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        stop.set()
        stats = await asyncio.wait_for(task, 5)
    finally:
        await backend.close()
    assert stats.read == 0


STREAM_CHECKS: list[StreamCheck] = [
    check_read_returns_produced,
    check_acked_not_redelivered,
    check_unacked_taken_over,
    check_results_and_dead_letters_written,
    check_run_stream_routes_every_message,
    check_stop_returns_promptly,
]
