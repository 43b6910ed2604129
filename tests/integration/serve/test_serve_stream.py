"""Stream scoring (``conveyor stream``) against real Redis and NATS JetStream servers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from conveyor.errors import ConfigError
from conveyor.serve._stream_nats import NatsStreamBackend, _matches, _stream_name
from conveyor.serve._stream_redis import RedisStreamBackend
from conveyor.serve.stream import Message, run_stream, score_batch
from conveyor.testing.churn import CHURN_RECORD as RECORD
from conveyor.testing.stream_suite import STREAM_CHECKS, ToyRuntime

REPO = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------ harnesses


class RedisHarness:
    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.stream = f"t-stream-{uuid.uuid4().hex}"
        self.client = aioredis.from_url(url)

    async def produce(self, bodies: Sequence[bytes]) -> list[str]:
        return [(await self.client.xadd(self.stream, {"data": b})).decode() for b in bodies]

    async def make_backend(self) -> RedisStreamBackend:
        backend = RedisStreamBackend(self.url, self.stream, group="g", consumer=uuid.uuid4().hex)
        return await backend.connect()

    async def results(self) -> list[dict[str, Any]]:
        entries = await self.client.xrange(f"{self.stream}:scored")
        return [json.loads(fields[b"data"]) for _, fields in entries]

    async def dead(self) -> list[tuple[str, str]]:
        entries = await self.client.xrange(f"{self.stream}:dead")
        return [(f[b"id"].decode(), f[b"error"].decode()) for _, f in entries]

    async def in_flight(self) -> int:
        """Entries read by the group but not acked yet."""
        try:
            return int((await self.client.xpending(self.stream, "g"))["pending"])
        except Exception:  # the group does not exist yet
            return 0

    async def cleanup(self) -> None:
        await self.client.delete(self.stream, f"{self.stream}:scored", f"{self.stream}:dead")
        await self.client.aclose()


class NatsHarness:
    def __init__(self, url: str) -> None:
        self.url = url
        self.subject = f"t{uuid.uuid4().hex}"
        self.name = _stream_name(self.subject)
        self.nc: Any = None

    async def setup(self) -> None:
        import nats

        self.nc = await nats.connect(self.url)
        self.js = self.nc.jetstream()
        subjects = [self.subject, f"{self.subject}.scored", f"{self.subject}.dead"]
        await self.js.add_stream(name=self.name, subjects=subjects)

    async def produce(self, bodies: Sequence[bytes]) -> list[str]:
        return [str((await self.js.publish(self.subject, b)).seq) for b in bodies]

    async def make_backend(self) -> NatsStreamBackend:
        backend = NatsStreamBackend(self.url, self.subject, durable="g", ack_wait_s=1.0)
        return await backend.connect()

    async def _bodies(self, subject: str) -> list[bytes]:
        from nats.errors import TimeoutError as NatsTimeout

        sub = await self.js.pull_subscribe(subject, stream=self.name)
        out: list[bytes] = []
        try:
            while True:
                out += [m.data for m in await sub.fetch(batch=500, timeout=0.3)]
        except (TimeoutError, NatsTimeout):
            pass
        await sub.unsubscribe()
        return out

    async def results(self) -> list[dict[str, Any]]:
        return [json.loads(b) for b in await self._bodies(f"{self.subject}.scored")]

    async def dead(self) -> list[tuple[str, str]]:
        bodies = [json.loads(b) for b in await self._bodies(f"{self.subject}.dead")]
        return [(d["id"], d["error"]) for d in bodies]

    async def in_flight(self) -> int:
        """Messages delivered to the durable but not acked yet."""
        from nats.js.errors import NotFoundError

        try:
            return (await self.js.consumer_info(self.name, "g")).num_ack_pending
        except NotFoundError:
            return 0

    async def cleanup(self) -> None:
        await self.js.delete_stream(self.name)
        await self.nc.close()


def _run(coro_fn: Callable[[Any], Any], harness: Any) -> None:
    async def go() -> None:
        if hasattr(harness, "setup"):
            await harness.setup()
        try:
            await coro_fn(harness)
        finally:
            await harness.cleanup()

    asyncio.run(go())


@pytest.mark.redis
@pytest.mark.parametrize("check", STREAM_CHECKS, ids=lambda c: c.__name__)
def test_redis_backend_conformance(check: Callable[[Any], Any], redis_url: str) -> None:
    _run(check, RedisHarness(redis_url))


@pytest.mark.nats
@pytest.mark.parametrize("check", STREAM_CHECKS, ids=lambda c: c.__name__)
def test_nats_backend_conformance(check: Callable[[Any], Any], nats_url: str) -> None:
    _run(check, NatsHarness(nats_url))


# ------------------------------------------------------------------ core, no server


def test_score_batch_attributes_errors_to_their_record() -> None:
    out = score_batch(ToyRuntime(), [{"x": 1}, {"x": "a"}, {"x": 13}, {"x": 2}])  # type: ignore[arg-type]
    assert out[0] == {"label": "odd"} and out[3] == {"label": "even"}
    assert isinstance(out[1], str) and "'x' must be an integer" in out[1]
    assert isinstance(out[2], str) and "x=13 breaks the model" in out[2]


def test_score_batch_empty() -> None:
    assert score_batch(ToyRuntime(), []) == []  # type: ignore[arg-type]


class _FailingBackend:
    """Reads one batch; publishing results fails (e.g. the server went away)."""

    def __init__(self) -> None:
        self.acked: list[str] = []

    async def read(self, max_messages: int, block_ms: int) -> list[Message]:
        return [Message("1", b'{"x": 1}')]

    async def publish_results(self, results: Any) -> None:
        raise ConnectionError("output unavailable")

    async def dead_letter(self, failed: Any) -> None:
        raise AssertionError("not reached")

    async def ack(self, ids: Sequence[str]) -> None:
        self.acked += ids

    async def reclaim_pending(self, min_idle_ms: int) -> list[Message]:
        return []

    async def close(self) -> None:
        pass


def test_nothing_is_acked_when_the_output_write_fails() -> None:
    backend = _FailingBackend()
    with pytest.raises(ConnectionError):
        asyncio.run(run_stream(backend, ToyRuntime(), block_ms=10))  # type: ignore[arg-type]
    assert backend.acked == []


class _MemoryBackend:
    """Serves a fixed list of messages once and keeps what was written."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.todo = [Message(str(i), b) for i, b in enumerate(bodies)]
        self.results: list[dict[str, Any]] = []
        self.dead: list[str] = []
        self.acked: list[str] = []

    async def read(self, max_messages: int, block_ms: int) -> list[Message]:
        batch, self.todo = self.todo[:max_messages], self.todo[max_messages:]
        return batch

    async def publish_results(self, results: Any) -> None:
        self.results += [json.loads(body) for _, body in results]

    async def dead_letter(self, failed: Any) -> None:
        self.dead += [source for source, _, _ in failed]

    async def ack(self, ids: Sequence[str]) -> None:
        self.acked += ids

    async def reclaim_pending(self, min_idle_ms: int) -> list[Message]:
        return []

    async def close(self) -> None:
        pass


def test_stream_predictions_are_logged_with_the_result_prediction_id(tmp_path: Path) -> None:
    from conveyor.stores.prediction_log import PredictionLog

    bodies = [json.dumps({"x": i}).encode() for i in range(20)] + [b"{bad", b'{"x": "a"}']
    backend = _MemoryBackend(bodies)
    plog = PredictionLog(tmp_path / "log")
    stats = asyncio.run(
        run_stream(
            backend,  # type: ignore[arg-type]
            ToyRuntime(),  # type: ignore[arg-type]
            model="toy",
            version=3,
            batch_size=7,
            block_ms=10,
            max_messages=len(bodies),
            prediction_log=plog,
        )
    )
    plog.close()
    assert (stats.scored, stats.dead) == (19, 3)  # x=13 is a poison record
    frame = plog.scan(model="toy").collect()
    assert sorted(frame["prediction_id"].to_list()) == sorted(
        r["prediction_id"] for r in backend.results
    )
    assert set(frame["status"].to_list()) == {"stream"} and set(frame["version"].to_list()) == {3}
    by_id = {r["prediction_id"]: r for r in backend.results}
    for row in frame.iter_rows(named=True):
        assert row["prediction"] == by_id[row["prediction_id"]]["label"]
        assert row["prediction"] == ("odd" if row["x"] % 2 else "even")


def test_run_stream_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        asyncio.run(run_stream(_FailingBackend(), ToyRuntime(), batch_size=0))  # type: ignore[arg-type]


def test_nats_output_subject_must_not_feed_the_input() -> None:
    assert _matches("orders.>", "orders.scored") and not _matches("orders", "orders.scored")
    assert _matches("a.*.c", "a.b.c") and not _matches("a.*", "a.b.c")
    with pytest.raises(ConfigError, match="matches the input subject"):
        NatsStreamBackend("nats://x", "orders.>", output="orders.out", dead_letter="dead")
    with pytest.raises(ConfigError, match="wildcard subject needs"):
        NatsStreamBackend("nats://x", "orders.*")


# ------------------------------------------------------------------ CLI, real model, kill test


class Consumer:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def wait_ready(self, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready" in self.log.read_text():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"consumer exited {self.proc.returncode}:\n{self.log.read_text()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"consumer not ready:\n{self.log.read_text()}")


@pytest.fixture
def start_consumer(
    tmp_path: Path, registered_churn_project: Path
) -> Iterator[Callable[..., Consumer]]:
    started: list[Consumer] = []

    def start(*args: str) -> Consumer:
        log = tmp_path / f"consumer-{len(started)}.log"
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        command = [sys.executable, "-m", "conveyor", "-C", str(registered_churn_project)]
        command += ["stream", "--model", "churn@champion", "--batch-size", "5", *args]
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        started.append(Consumer(proc, log))
        return started[-1]

    yield start
    for consumer in started:
        if consumer.proc.poll() is None:
            consumer.proc.kill()
            consumer.proc.wait(5)


def _bodies(n: int) -> list[bytes]:
    """Mostly good records; every 10th is not JSON, every 7th has a bad field."""
    out = []
    for i in range(n):
        if i % 10 == 9:
            out.append(b"{oops")
        elif i % 7 == 6:
            out.append(json.dumps({**RECORD, "tenure": "long"}).encode())
        else:
            out.append(json.dumps({**RECORD, "tenure": i % 72}).encode())
    return out


def _kill_then_recover(
    harness: Any, start: Callable[..., Consumer], args: list[str], n: int = 300
) -> None:
    bodies = _bodies(n)

    async def seen() -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        return await harness.results(), await harness.dead()

    loop = asyncio.new_event_loop()
    try:
        if hasattr(harness, "setup"):
            loop.run_until_complete(harness.setup())
        first = start(*args)
        first.wait_ready()
        ids: list[str] = []
        caught = False
        while bodies:
            # Feed a little, freeze the consumer, kill it if it holds an unacked batch.
            chunk, bodies = bodies[:5], bodies[5:]
            ids += loop.run_until_complete(harness.produce(chunk))
            if caught:
                continue
            time.sleep((len(ids) // 5 % 8) / 1000)  # vary the moment: the batch takes ms
            first.proc.send_signal(signal.SIGSTOP)
            caught = loop.run_until_complete(harness.in_flight()) > 0
            if not caught:
                first.proc.send_signal(signal.SIGCONT)
        assert caught, "never caught the consumer with an unacked batch"
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(5)
        second = start(*args)
        second.wait_ready()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            results, dead = loop.run_until_complete(seen())
            handled = {r["id"] for r in results} | {d[0] for d in dead}
            if handled >= set(ids):
                break
            time.sleep(0.2)
        missing = set(ids) - handled
        assert not missing, f"lost {len(missing)} message(s): {sorted(missing)[:10]}"
        assert all(r["model"] == "churn" and r["version"] == 1 for r in results)
        assert all(r["label"] in ("Yes", "No") and "probabilities" in r for r in results)
        dead_ids = {d[0] for d in dead}
        for i, sid in enumerate(ids):
            expect_dead = i % 10 == 9 or i % 7 == 6
            assert (sid in dead_ids) == expect_dead, (i, sid)
        reasons = dict(dead)
        assert "not JSON" in reasons[ids[9]]
        assert "tenure" in reasons[ids[6]]
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(15) == 0, second.log.read_text()
        assert "stopped:" in second.log.read_text()
    finally:
        loop.run_until_complete(harness.cleanup())
        loop.close()


@pytest.mark.redis
def test_redis_consumer_killed_mid_stream_loses_nothing(
    redis_url: str, start_consumer: Callable[..., Consumer]
) -> None:
    harness = RedisHarness(redis_url)
    args = ["--backend", "redis", "--url", redis_url, "--input", harness.stream]
    _kill_then_recover(harness, start_consumer, [*args, "--group", "g", "--claim-idle-ms", "1000"])


@pytest.mark.nats
def test_nats_consumer_killed_mid_stream_loses_nothing(
    nats_url: str, start_consumer: Callable[..., Consumer]
) -> None:
    harness = NatsHarness(nats_url)
    args = ["--backend", "nats", "--url", nats_url, "--input", harness.subject]
    _kill_then_recover(harness, start_consumer, [*args, "--group", "g", "--ack-wait", "1"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--backend", "nats", "--input", "a.>"], 2, "wildcard subject needs"),
        (["--url", "redis://127.0.0.1:1/0", "--input", "s"], 1, "cannot connect"),
    ],
)
def test_stream_cli_reports_bad_setup(
    registered_churn_project: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    from conveyor.cli.main import main

    argv = ["-C", str(registered_churn_project), "stream", "-m", "churn@champion", *args]
    assert main(argv) == code
    assert message in capsys.readouterr().err
