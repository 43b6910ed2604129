"""A real S3-compatible server for the object storage tests: moto in server mode.

The server listens on a free loopback port for the whole session; each test
gets its own bucket. Endpoint and dummy credentials reach the code under test
through ``storage_options`` only, never through the process environment.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

# The conformance suite is a plain module; let pytest explain its failed asserts.
pytest.register_assert_rewrite("conveyor.testing.artifact_suite")

S3_KEY = "conveyor-test-key"
S3_SECRET = "conveyor-test-secret-value"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto S3 server started for this session."""
    pytest.importorskip("s3fs", reason="pip install 'conveyor[s3]'")
    server_module = pytest.importorskip("moto.server", reason="pip install 'moto[server]'")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 client on ``endpoint`` (for setting up and tampering, beside the code under test)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )


@pytest.fixture
def s3_options(s3_endpoint: str) -> dict[str, Any]:
    """storage_options for the test server (endpoint and dummy credentials)."""
    return {"endpoint_url": s3_endpoint, "key": S3_KEY, "secret": S3_SECRET}


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the test server."""
    name = f"conveyor-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def free_port() -> int:
    """A loopback port nothing listens on (for the unreachable-endpoint tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StallingProxy:
    """A TCP proxy to the S3 server that stops forwarding uploads after ``limit`` bytes.

    A writer behind it is caught mid-upload: the server has received part of
    the body and waits for the rest. The test then kills the writer and
    :meth:`cut` closes every connection, exactly as a crashed client would.
    """

    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port = target_port
        self.limit = limit
        self.forwarded = 0
        self.stalled = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, dest: socket.socket, upstream: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if upstream:
                    with self._lock:
                        room = self.limit - self.forwarded
                        chunk = chunk[: max(room, 0)]
                        self.forwarded += len(chunk)
                    if not chunk:
                        self.stalled.set()
                        continue  # swallow the rest: the server waits for bytes that never come
                dest.sendall(chunk)
        except OSError:
            pass

    def cut(self) -> None:
        """Close every connection and stop listening."""
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
