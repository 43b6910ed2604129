"""Redis Streams backend for :func:`conveyor.serve.stream.run_stream`.

Input entries carry the JSON record in the field ``data``. Results are added
to the output stream as ``id`` (source entry id) + ``data`` (result JSON);
dead letters as ``id`` + ``data`` (original body) + ``error``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from conveyor.errors import ConfigError, StoreError
from conveyor.serve.stream import Message

__all__ = ["RedisStreamBackend"]

_FIELD = b"data"


def default_consumer() -> str:
    """A consumer name unique to this process (``host-pid``)."""
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisStreamBackend:
    """Consume a Redis Stream through a consumer group.

    Args:
        url: ``redis://host:port/db``.
        stream: the input stream key.
        group: consumer group (created with MKSTREAM, from the start of the stream, if missing).
        consumer: this consumer's name (default ``host-pid``).
        output: result stream (default ``<stream>:scored``).
        dead_letter: dead-letter stream (default ``<stream>:dead``).
        claim_count: entries taken over per ``XAUTOCLAIM``.

    Use :meth:`connect` (or ``async with``) before reading.
    """

    def __init__(
        self,
        url: str,
        stream: str,
        *,
        group: str = "conveyor",
        consumer: str | None = None,
        output: str | None = None,
        dead_letter: str | None = None,
        claim_count: int = 64,
    ) -> None:
        if not stream:
            raise ConfigError("--input: give the Redis stream key to consume")
        self.url = url
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer()
        self.output = output or f"{stream}:scored"
        self.dead = dead_letter or f"{stream}:dead"
        self.claim_count = claim_count
        self._redis: Any = None

    async def connect(self) -> RedisStreamBackend:
        """Open the connection and make sure the consumer group exists.

        Raises:
            StoreError: Redis cannot be reached.
        """
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError, ResponseError

        try:
            self._redis = aioredis.from_url(self.url)
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise StoreError(
                    f"redis {self.stream}: creating group {self.group}: {exc}"
                ) from exc
        except (RedisError, OSError) as exc:
            await self.close()
            raise StoreError(
                f"redis {_safe(self.url)}: cannot connect: {exc}",
                hint="check --url and that the Redis server is running",
            ) from exc
        return self

    async def __aenter__(self) -> RedisStreamBackend:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @staticmethod
    def _messages(entries: Sequence[Any]) -> list[Message]:
        out: list[Message] = []
        for entry_id, fields in entries:
            sid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if fields is None:  # deleted from the stream while pending
                continue
            data = fields.get(_FIELD, fields.get("data"))
            if data is None:
                names = ", ".join(sorted(k.decode() if isinstance(k, bytes) else k for k in fields))
                out.append(Message(sid, b"", f"entry {sid} has no 'data' field (has: {names})"))
            else:
                out.append(Message(sid, data if isinstance(data, bytes) else str(data).encode()))
        return out

    async def read(self, max_messages: int, block_ms: int) -> list[Message]:
        """New entries for this group (``XREADGROUP ... >``)."""
        reply = await self._redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=max_messages, block=block_ms
        )
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3
            return [m for entries in reply.values() for m in self._messages(entries[0])]
        return [m for _, entries in reply for m in self._messages(entries)]

    async def publish_results(self, results: Sequence[tuple[str, bytes]]) -> None:
        """``XADD`` the results in one transaction."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for sid, body in results:
                pipe.xadd(self.output, {"id": sid, "data": body})
            await pipe.execute()

    async def dead_letter(self, failed: Sequence[tuple[str, bytes, str]]) -> None:
        """``XADD`` the dead letters with their reasons in one transaction."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for sid, body, error in failed:
                pipe.xadd(self.dead, {"id": sid, "data": body, "error": error})
            await pipe.execute()

    async def ack(self, ids: Sequence[str]) -> None:
        """``XACK`` the entries."""
        if ids:
            await self._redis.xack(self.stream, self.group, *ids)

    async def reclaim_pending(self, min_idle_ms: int) -> list[Message]:
        """``XAUTOCLAIM`` entries idle for ``min_idle_ms`` (a dead consumer's batch)."""
        reply = await self._redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=min_idle_ms,
            start_id="0-0",
            count=self.claim_count,
        )
        claimed = self._messages(reply[1])
        deleted = reply[2] if len(reply) > 2 else []
        if deleted:  # gone from the stream: nothing to score, stop tracking them
            await self.ack([d.decode() if isinstance(d, bytes) else str(d) for d in deleted])
        return claimed

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._redis is not None:
            client, self._redis = self._redis, None
            await client.aclose()


def _safe(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
