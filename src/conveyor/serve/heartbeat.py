"""The server's heartbeat: what it serves and how it is doing, written to the store.

Every ``serve.heartbeat_s`` seconds a background thread writes the server's
row in ``deployments`` (see :mod:`conveyor.stores.deployments`): the loaded
champion and challenger versions, the canary share, and the traffic of the
last interval (requests per second, latency p50/p95/p99, server-error,
client-error and fallback rates). With the same beat it reads the fleet-wide
canary share and applies it, so a share set from the dashboard, the admin API
or another worker reaches this process within one interval. A failed beat
(the database is locked or away) is logged and retried at the next one; it
never disturbs serving.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.serve._http import ServeContext

__all__ = ["HeartbeatReporter", "TrafficWindow"]

log = logging.getLogger("conveyor.serve")


class TrafficWindow:
    """Counters of one heartbeat interval; written on the event loop, read by the reporter."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests = 0
        self.server_errors = 0
        self.client_errors = 0
        self.records = 0
        self.fallbacks = 0
        self.latencies_ms: deque[float] = deque(maxlen=50_000)

    def record(self, status: int, latency_s: float) -> None:
        """One answered request."""
        self.requests += 1
        if status >= 500:
            self.server_errors += 1
        elif status >= 400:
            self.client_errors += 1
        self.latencies_ms.append(latency_s * 1000.0)

    def summary(self) -> dict[str, Any]:
        """Rates and latency percentiles of this window (None where there was no traffic)."""
        import numpy as np

        seconds = max(time.monotonic() - self.started, 1e-9)
        lat = np.fromiter(self.latencies_ms, dtype=float)
        p50, p95, p99 = (
            (float(v) for v in np.percentile(lat, [50, 95, 99])) if lat.size else (None,) * 3
        )
        n = self.requests
        return {
            "window_s": round(seconds, 3),
            "requests": n,
            "request_rate": n / seconds,
            "records": self.records,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
            "error_rate": self.server_errors / n if n else None,
            "client_error_rate": self.client_errors / n if n else None,
            "fallback_rate": self.fallbacks / self.records if self.records else None,
        }


class HeartbeatReporter:
    """Writes ``ctx``'s heartbeat every ``interval_s`` and follows the fleet canary share.

    Args:
        ctx: the server's context (holder, router, metrics, project).
        address: where clients reach this server (``http://host:port``), if known.
        interval_s: seconds between beats.
    """

    def __init__(self, ctx: ServeContext, *, address: str | None, interval_s: float) -> None:
        self.ctx = ctx
        self.address = address
        self.interval_s = interval_s
        self.server_id = uuid.uuid4().hex
        self.window = TrafficWindow()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def model(self) -> str:
        return self.ctx.holder.ref.split("@", 1)[0].split(":", 1)[0]

    def start(self) -> None:
        """Beat once now (so the server shows up at once), then every interval."""
        self._thread = threading.Thread(target=self._run, name="conveyor-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.beat()
            if self._stop.wait(self.interval_s):
                return

    def beat(self) -> None:
        """Write one heartbeat and apply the fleet canary share (errors are logged, not raised)."""
        from conveyor.stores.deployments import Heartbeat, canary_traffic, write_heartbeat

        ctx = self.ctx
        store = ctx.project.metadata
        try:
            if ctx.router is not None:
                share = canary_traffic(store, self.model)
                if share is not None and share != ctx.router.traffic:
                    ctx.router.traffic = share
                    ctx.metrics.canary_traffic.set(share)
                    log.info("canary share is now %.3f (fleet setting)", share)
            window, self.window = self.window, TrafficWindow()
            champion, challenger = ctx.holder.current, ctx.holder.challenger
            stats = window.summary()
            write_heartbeat(
                store,
                Heartbeat(
                    server_id=self.server_id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    address=self.address,
                    model=self.model,
                    model_ref=ctx.holder.ref,
                    champion_version=champion.number if champion else None,
                    challenger_version=challenger.number if challenger else None,
                    canary_traffic=ctx.router.traffic if ctx.router is not None else None,
                    stats=stats,
                ),
            )
        except Exception as exc:  # the store may be busy or away: serving goes on
            log.warning("heartbeat to the metadata store failed: %s", exc)

    def close(self) -> None:
        """Stop beating and mark this server stopped."""
        from conveyor.stores.deployments import mark_stopped

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            mark_stopped(self.ctx.project.metadata, self.server_id)
        except Exception as exc:
            log.warning("could not mark this server stopped in the metadata store: %s", exc)
