from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from conveyor.errors import ConfigError, SchemaError, ServeError
from conveyor.serve.microbatch import MicroBatcher


class Recorder:
    """A predict_fn that echoes each record's id and remembers every call."""

    def __init__(self, *, delay: float = 0.0, fail: Exception | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.threads: set[int] = set()
        self.delay = delay
        self.fail = fail

    def __call__(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append(list(records))
        self.threads.add(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None and any(r.get("boom") for r in records):
            raise self.fail
        return [{"id": r["id"], "double": r["id"] * 2} for r in records]


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_concurrent_submissions_share_batches_and_get_their_own_slices() -> None:
    predict = Recorder()

    async def main() -> list[list[dict[str, Any]]]:
        batcher = MicroBatcher(predict, max_wait_ms=20, max_batch=64)
        # callers of 1 to 3 records each
        requests = [[{"id": 10 * i + j} for j in range(1 + i % 3)] for i in range(50)]
        out = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.close()
        assert batcher.stats.submissions == 50
        return [requests, out]  # type: ignore[list-item]

    requests, out = _run(main())
    assert len(predict.calls) < 50
    for request, answer in zip(requests, out):
        assert [a["id"] for a in answer] == [r["id"] for r in request]
        assert all(a["double"] == a["id"] * 2 for a in answer)
    assert sum(len(c) for c in predict.calls) == sum(len(r) for r in requests)
    assert threading.get_ident() not in predict.threads  # scored off the event loop


def test_max_batch_is_respected_and_callers_are_never_split() -> None:
    predict = Recorder()

    async def main() -> None:
        batcher = MicroBatcher(predict, max_wait_ms=50, max_batch=5)
        sizes = [2, 2, 2, 1, 3, 4, 1, 1, 9]  # 9 > max_batch: scored alone
        requests = [[{"id": 100 * i + j} for j in range(n)] for i, n in enumerate(sizes)]
        out = await asyncio.gather(*(batcher.submit(r) for r in requests))
        for request, answer in zip(requests, out):
            assert [a["id"] for a in answer] == [r["id"] for r in request]
        await batcher.close()

    _run(main())
    assert [len(c) for c in predict.calls if len(c) > 5] == [9]
    assert all(len(c) <= 5 for c in predict.calls if len(c) != 9)
    # each call holds whole submissions: ids of one caller are never in two calls
    owners = [{r["id"] // 100 for r in c} for c in predict.calls]
    for a in range(len(owners)):
        for b in range(a + 1, len(owners)):
            assert not owners[a] & owners[b]


def test_a_full_batch_does_not_wait_for_the_timeout() -> None:
    predict = Recorder()

    async def main() -> float:
        batcher = MicroBatcher(predict, max_wait_ms=5000, max_batch=4)
        start = time.perf_counter()
        await asyncio.gather(*(batcher.submit([{"id": i}]) for i in range(4)))
        elapsed = time.perf_counter() - start
        await batcher.close()
        return elapsed

    assert _run(main()) < 1.0
    assert [len(c) for c in predict.calls] == [4]


def test_a_lone_submission_is_scored_at_once_not_after_max_wait() -> None:
    predict = Recorder()

    async def main() -> float:
        batcher = MicroBatcher(predict, max_wait_ms=2000, max_batch=64)
        start = time.perf_counter()
        assert await batcher.submit([{"id": 1}]) == [{"id": 1, "double": 2}]
        elapsed = time.perf_counter() - start
        await batcher.close()
        return elapsed

    assert _run(main()) < 0.5  # nothing else arrives, so it does not wait the 2 s


def test_gathering_goes_on_while_requests_keep_arriving_up_to_max_wait() -> None:
    predict = Recorder()

    async def main() -> None:
        batcher = MicroBatcher(predict, max_wait_ms=2000, max_batch=64)

        async def trickle() -> list[Any]:
            # one new submission every loop turn: the batch keeps gathering
            tasks = []
            for i in range(10):
                tasks.append(asyncio.ensure_future(batcher.submit([{"id": i}])))
                await asyncio.sleep(0)
            return await asyncio.gather(*tasks)

        out = await trickle()
        assert [o[0]["id"] for o in out] == list(range(10))
        await batcher.close()

    _run(main())
    assert len(predict.calls) < 10


def test_a_trickle_is_cut_at_max_wait() -> None:
    predict = Recorder()

    async def main() -> None:
        batcher = MicroBatcher(predict, max_wait_ms=5, max_batch=10_000)
        tasks = []
        start = time.perf_counter()
        while time.perf_counter() - start < 0.1:  # a new caller every turn for 100 ms
            tasks.append(asyncio.ensure_future(batcher.submit([{"id": len(tasks)}])))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        await batcher.close()

    _run(main())
    assert len(predict.calls) >= 5  # batches were cut every ~5 ms, not one 100 ms batch


def test_prepare_and_combine_batch_prepared_payloads_inline_on_the_loop() -> None:
    calls: list[dict[str, list[int]]] = []
    threads: set[int] = set()

    def prepare(records: list[dict[str, Any]]) -> dict[str, list[int]]:
        return {"id": [r["id"] for r in records]}

    def combine(payloads: list[dict[str, list[int]]]) -> dict[str, list[int]]:
        return {"id": [i for p in payloads for i in p["id"]]}

    def predict(columns: dict[str, list[int]]) -> list[dict[str, int]]:
        calls.append(columns)
        threads.add(threading.get_ident())
        return [{"id": i} for i in columns["id"]]

    async def main() -> list[Any]:
        batcher = MicroBatcher(predict, prepare=prepare, combine=combine, inline=True)
        out = await asyncio.gather(*(batcher.submit([{"id": i}, {"id": -i}]) for i in range(5)))
        await batcher.close()
        return out

    out = _run(main())
    assert out == [[{"id": i}, {"id": -i}] for i in range(5)]
    assert threads == {threading.get_ident()}  # inline: scored on the event loop's thread
    assert sum(len(c["id"]) for c in calls) == 10 and len(calls) < 5


def test_submissions_further_apart_than_max_wait_are_separate_batches() -> None:
    predict = Recorder()

    async def main() -> None:
        batcher = MicroBatcher(predict, max_wait_ms=1, max_batch=64)
        first = asyncio.ensure_future(batcher.submit([{"id": 1}]))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.submit([{"id": 2}]))
        await asyncio.gather(first, second)
        await batcher.close()

    _run(main())
    assert [[r["id"] for r in c] for c in predict.calls] == [[1], [2]]


def test_an_exception_reaches_every_caller_of_that_batch_only() -> None:
    predict = Recorder(fail=ValueError("model exploded"))

    async def main() -> list[Any]:
        batcher = MicroBatcher(predict, max_wait_ms=20, max_batch=3)
        # first batch (3 records) holds the bad record; the second batch is fine
        requests = [[{"id": 1}], [{"id": 2, "boom": True}], [{"id": 3}], [{"id": 4}]]
        out = await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
        await batcher.close()
        return out

    out = _run(main())
    assert [type(o) for o in out[:3]] == [ValueError] * 3
    assert str(out[0]) == "model exploded"
    assert out[3] == [{"id": 4, "double": 8}]


def test_prepare_rejects_only_its_own_caller() -> None:
    predict = Recorder()

    def validate(records: list[dict[str, Any]]) -> None:
        if any("id" not in r for r in records):
            raise SchemaError("record 0: field 'id' is missing")

    async def main() -> list[Any]:
        batcher = MicroBatcher(predict, max_wait_ms=20, prepare=validate)
        out = await asyncio.gather(
            batcher.submit([{"id": 1}]),
            batcher.submit([{"name": "no id"}]),
            batcher.submit([{"id": 3}]),
            return_exceptions=True,
        )
        await batcher.close()
        return out

    out = _run(main())
    assert out[0] == [{"id": 1, "double": 2}] and out[2] == [{"id": 3, "double": 6}]
    assert isinstance(out[1], SchemaError)
    assert [[r["id"] for r in c] for c in predict.calls] == [[1, 3]]  # never queued


def test_close_drains_pending_work_then_refuses_new_submissions() -> None:
    predict = Recorder(delay=0.02)

    async def main() -> None:
        batcher = MicroBatcher(predict, max_wait_ms=1000, max_batch=2)
        tasks = [asyncio.ensure_future(batcher.submit([{"id": i}])) for i in range(7)]
        await asyncio.sleep(0)  # let them queue
        assert batcher.pending > 0
        await batcher.close()  # does not wait the 1 s: closing flushes at once
        assert all(t.done() for t in tasks)
        assert [t.result()[0]["id"] for t in tasks] == list(range(7))
        assert batcher.pending == 0 and batcher.closed
        with pytest.raises(ServeError, match="closed"):
            await batcher.submit([{"id": 99}])
        await batcher.close()  # idempotent

    start = time.perf_counter()
    _run(main())
    assert time.perf_counter() - start < 0.9
    assert sum(len(c) for c in predict.calls) == 7


def test_wrong_number_of_results_is_an_error_for_the_batch() -> None:
    async def main() -> None:
        batcher = MicroBatcher(lambda records: records[:-1], max_wait_ms=1)
        with pytest.raises(ServeError, match="returned 1 results for 2 records"):
            await batcher.submit([{"id": 1}, {"id": 2}])
        await batcher.close()

    _run(main())


def test_empty_submission_and_cancelled_callers() -> None:
    predict = Recorder()

    async def main() -> None:
        batcher = MicroBatcher(predict, max_wait_ms=30)
        assert await batcher.submit([]) == []
        gone = asyncio.ensure_future(batcher.submit([{"id": 1}]))
        kept = asyncio.ensure_future(batcher.submit([{"id": 2}]))
        await asyncio.sleep(0)
        gone.cancel()
        assert await kept == [{"id": 2, "double": 4}]
        await batcher.close()

    _run(main())
    assert [[r["id"] for r in c] for c in predict.calls] == [[2]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_wait_ms": -1}, "max_wait_ms"),
        ({"max_wait_ms": float("nan")}, "max_wait_ms"),
        ({"max_batch": 0}, "max_batch"),
        ({"max_batch": 2.5}, "max_batch"),
        ({"max_batch": True}, "max_batch"),
    ],
)
def test_bad_options_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MicroBatcher(Recorder(), **kwargs)
    with pytest.raises(ConfigError, match="callable"):
        MicroBatcher("not a function")  # type: ignore[arg-type]
