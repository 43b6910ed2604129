"""Fixtures for data-source integration tests: the churn data in SQLite, and a
real local HTTP server that serves JSON in every pagination style and fails in
every way the HTTP reader must handle."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

RECORDS = [{"id": i, "name": f"n{i}", "score": i / 2, "meta": {"group": i % 3}} for i in range(25)]
TOKEN = "s3cr3t-token-value"


@pytest.fixture(scope="session")
def churn_frame(churn_csv: Path) -> pl.DataFrame:
    return pl.read_csv(churn_csv, infer_schema_length=None)


@pytest.fixture
def churn_sqlite(tmp_path: Path, churn_frame: pl.DataFrame) -> Path:
    """A SQLite file ``churn.db`` in ``tmp_path`` with the churn data in table ``churn``."""
    import sqlalchemy as sa

    path = tmp_path / "churn.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    churn_frame.write_database("churn", engine)
    engine.dispose()
    return path


# ---------------------------------------------------------------- the HTTP API


@dataclass
class Api:
    """The running server: its base URL and how often each path was hit."""

    base: str
    records: list[dict[str, Any]] = field(default_factory=lambda: RECORDS)
    token: str = TOKEN
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    api: Api

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return None

    def _send(
        self,
        status: int,
        body: Any,
        *,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _hit(self, key: str) -> int:
        with self.api.lock:
            self.api.hits[key] += 1
            return self.api.hits[key]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        page, size = int(body.get("page", 1)), int(body.get("per_page", 10))
        if body.get("filter") != "all":
            self._send(400, {"error": "filter missing"})
            return
        self._send(200, {"items": RECORDS[(page - 1) * size : page * size]})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = parts.path.strip("/").split("/")
        name, key = route[0], (route[1] if len(route) > 1 else "")
        hit = self._hit(f"{name}/{key}")
        page = int(q.get("page", 1))
        size = int(q.get("per_page", 10))
        chunk = RECORDS[(page - 1) * size : page * size]
        if name == "page":
            self._send(200, {"data": {"items": chunk, "page": page}})
        elif name == "offset":
            off, lim = int(q.get("offset", 0)), int(q.get("limit", 10))
            self._send(200, {"results": RECORDS[off : off + lim]})
        elif name == "cursor":
            start = int(q.get("cursor", 0))
            nxt = start + 10 if start + 10 < len(RECORDS) else None
            self._send(
                200, {"items": RECORDS[start : start + 10], "meta": {"next": nxt and str(nxt)}}
            )
        elif name == "link":
            headers = (
                {"Link": f'</link?page={page + 1}>; rel="next"'} if page * 10 < len(RECORDS) else {}
            )
            self._send(200, chunk, headers=headers)
        elif name == "next-body":
            nxt = f"{self.api.base}/next-body?page={page + 1}" if page * 10 < len(RECORDS) else None
            self._send(200, {"records": chunk, "links": {"next": nxt}})
        elif name == "always-500":
            self._send(500, {"error": "boom"})
        elif name == "flaky":
            if hit <= 2:
                self._send(503, {"error": "warming up"})
            else:
                self._send(200, {"items": RECORDS[:5]})
        elif name == "rate":
            if hit == 1:
                self._send(429, {"error": "slow down"}, headers={"Retry-After": "0"})
            else:
                self._send(200, {"items": RECORDS[:3]})
        elif name == "html":
            self._send(
                200, "<!doctype html><html><body>Please log in</body></html>", ctype="text/html"
            )
        elif name == "loop-next":
            self._send(200, {"records": [{"id": hit}], "next": "/loop-next/" + key})
        elif name == "loop-cursor":
            self._send(200, {"items": [{"id": hit}], "cursor": "abc"})
        elif name == "ignore-page":
            self._send(200, {"items": RECORDS[:2]})
        elif name == "auth":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "bad token"})
            else:
                self._send(200, {"items": RECORDS[:4]})
        elif name == "empty":
            self._send(200, {"items": []})
        elif name == "slow":
            time.sleep(0.6)
            self._send(200, {"items": RECORDS[:1]})
        elif name == "bad-json":
            self._send(200, '{"items": [', ctype="application/json")
        else:
            self._send(404, {"error": f"no route {parts.path}"})


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out on purpose (the /slow route) closes its socket early.
        return None


@pytest.fixture(scope="session")
def api() -> Iterator[Api]:
    """A real HTTP server on 127.0.0.1 (free port) serving the routes above."""
    server = _Server(("127.0.0.1", 0), _Handler)
    state = Api(base=f"http://127.0.0.1:{server.server_address[1]}")
    _Handler.api = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
