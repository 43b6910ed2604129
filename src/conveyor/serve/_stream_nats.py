"""NATS JetStream backend for :func:`conveyor.serve.stream.run_stream`.

A durable pull consumer reads the input subject. Results are published (JSON,
with ``id`` = the input message's stream sequence) to the output subject and
dead letters (``{"id", "error", "data"}``) to the dead-letter subject; each
publish waits for JetStream's ack before the input messages are acked.
Messages a killed consumer left unacked are redelivered after ``ack_wait``.
Subjects no stream captures yet get one (``CONVEYOR_<input>``, plus
``..._OUT`` for the outputs when the input stream already existed).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

from conveyor.errors import ConfigError, StoreError
from conveyor.serve.stream import Message

__all__ = ["NatsStreamBackend"]


def _stream_name(subject: str) -> str:
    return "CONVEYOR_" + re.sub(r"[^A-Za-z0-9_-]", "_", subject).upper()


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching (``*`` one token, ``>`` the rest)."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


class NatsStreamBackend:
    """Consume a JetStream subject with a durable pull consumer.

    Args:
        url: ``nats://host:port``.
        subject: the input subject.
        durable: the durable consumer name (shared by all workers).
        output: result subject (default ``<subject>.scored``).
        dead_letter: dead-letter subject (default ``<subject>.dead``).
        ack_wait_s: how long an unacked message waits before redelivery (only
            applied when the consumer is created).

    Use :meth:`connect` (or ``async with``) before reading.
    """

    def __init__(
        self,
        url: str,
        subject: str,
        *,
        durable: str = "conveyor",
        output: str | None = None,
        dead_letter: str | None = None,
        ack_wait_s: float = 30.0,
    ) -> None:
        if not subject:
            raise ConfigError("--input: give the NATS subject to consume")
        wild = "*" in subject.split(".") or ">" in subject.split(".")
        if wild and (output is None or dead_letter is None):
            raise ConfigError(
                f"--input {subject}: a wildcard subject needs explicit --output and --dead-letter"
            )
        self.url = url
        self.subject = subject
        self.durable = re.sub(r"[^A-Za-z0-9_-]", "_", durable)
        self.output = output or f"{subject}.scored"
        self.dead = dead_letter or f"{subject}.dead"
        for option, target in (("--output", self.output), ("--dead-letter", self.dead)):
            if _matches(subject, target):
                raise ConfigError(
                    f"{option} {target}: matches the input subject {subject}; "
                    "results would be read back as input"
                )
        self.ack_wait_s = ack_wait_s
        self.stream: str | None = None
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._inflight: dict[str, Any] = {}

    async def connect(self) -> NatsStreamBackend:
        """Connect, make sure streams capture the subjects, bind the durable consumer.

        Raises:
            StoreError: NATS cannot be reached or JetStream refused.
        """
        import nats
        from nats.errors import Error as NatsError
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        try:
            self._nc = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=3)
            self._js = self._nc.jetstream()
            self.stream = await self._ensure_streams()
            config = ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ack_wait_s,
                max_deliver=-1,
            )
            self._sub = await self._js.pull_subscribe(
                self.subject, durable=self.durable, stream=self.stream, config=config
            )
        except (TimeoutError, NatsError, OSError) as exc:
            await self.close()
            raise StoreError(
                f"nats {self.url}: {type(exc).__name__}: {exc}",
                hint="check --url and that the NATS server runs with JetStream (-js)",
            ) from exc
        return self

    async def _find(self, subject: str) -> str | None:
        from nats.js.errors import NotFoundError

        try:
            return await self._js.find_stream_name_by_subject(subject)
        except NotFoundError:
            return None

    async def _ensure_streams(self) -> str:
        missing = list(dict.fromkeys(s for s in (self.output, self.dead)))
        missing = [s for s in missing if await self._find(s) is None]
        stream = await self._find(self.subject)
        if stream is None:
            stream = _stream_name(self.subject)
            await self._js.add_stream(name=stream, subjects=[self.subject, *missing])
        elif missing:
            await self._js.add_stream(name=f"{stream}_OUT", subjects=missing)
        return stream

    async def __aenter__(self) -> NatsStreamBackend:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def read(self, max_messages: int, block_ms: int) -> list[Message]:
        """Fetch up to ``max_messages`` from the durable consumer."""
        from nats.errors import TimeoutError as NatsTimeout

        try:
            msgs = await self._sub.fetch(batch=max_messages, timeout=block_ms / 1000)
        except (TimeoutError, NatsTimeout):
            return []
        out = []
        for msg in msgs:
            sid = str(msg.metadata.sequence.stream)
            self._inflight[sid] = msg
            out.append(Message(sid, msg.data))
        return out

    async def _publish(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        # Nats-Msg-Id lets JetStream drop the duplicate a redelivery would write.
        await asyncio.gather(
            *(
                self._js.publish(subject, body, headers={"Nats-Msg-Id": key})
                for subject, key, body in items
            )
        )

    async def publish_results(self, results: Sequence[tuple[str, bytes]]) -> None:
        """Publish results and wait for every JetStream ack."""
        key = f"{self.stream}:{{}}:scored"
        await self._publish([(self.output, key.format(sid), body) for sid, body in results])

    async def dead_letter(self, failed: Sequence[tuple[str, bytes, str]]) -> None:
        """Publish dead letters (``{"id", "error", "data"}``) and wait for the acks."""
        items = []
        for sid, body, error in failed:
            text = body.decode("utf-8", errors="replace")
            payload = json.dumps({"id": sid, "error": error, "data": text}).encode()
            items.append((self.dead, f"{self.stream}:{sid}:dead", payload))
        await self._publish(items)

    async def ack(self, ids: Sequence[str]) -> None:
        """Ack the messages and flush so the server has the acks before we go on."""
        for sid in ids:
            msg = self._inflight.pop(sid, None)
            if msg is not None:
                await msg.ack()
        await self._nc.flush()

    async def reclaim_pending(self, min_idle_ms: int) -> list[Message]:
        """Nothing to do: JetStream redelivers unacked messages after ``ack_wait``."""
        return []

    async def close(self) -> None:
        """Close the connection (idempotent); unacked messages are redelivered later."""
        if self._nc is not None:
            nc, self._nc = self._nc, None
            self._inflight.clear()
            # Not drain(): it waits out the pull subscription's pending request.
            await nc.close()
