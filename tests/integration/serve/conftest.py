"""A registered churn model (trained once per session) and real uvicorn servers over it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conveyor.testing.churn import trained_churn_project

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def registered_churn_project(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> Path:
    """A project directory with two registered logreg versions of ``churn`` (v1 is champion)."""
    import conveyor

    root = trained_churn_project(tmp_path_factory.mktemp("serve") / "proj", churn_csv)
    with conveyor.Project(root, overrides=["models.0.params.C=0.05"]) as project:
        project.run()
        registry = project.registry
        versions = [v.version for v in registry.list_versions("churn")]
        assert sorted(versions) == [1, 2], versions
        if registry.resolve("churn@champion").version != 1:
            registry.promote("churn", 1, reason="test setup")
    return root


@pytest.fixture
def project_copy(registered_churn_project: Path, tmp_path: Path) -> Path:
    """A private copy of the registered project, for tests that move aliases."""
    dest = tmp_path / "proj"
    # Predictions other servers logged into the shared project are not this test's.
    shutil.copytree(
        registered_churn_project,
        dest,
        ignore=lambda d, names: ["predictions"] if d.endswith(".conveyor") else [],
    )
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A ``python -m conveyor serve`` subprocess on a free loopback port."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0, **kwargs)  # type: ignore[arg-type]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def launch(project: Path, log_dir: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """Start ``python -m conveyor -C project serve`` on a free port and wait until /ready is 200."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_API_KEYS"}
    full_env.update({"PYTHONPATH": str(REPO / "src"), **(env or {})})
    command = [sys.executable, "-m", "conveyor", "-C", str(project), "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/ready", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"server did not become ready:\n{log.read_text()}")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers (``start_server(project, *args, env={...})``); all are stopped after the test."""
    started: list[Server] = []

    def start(project: Path, *args: str, env: dict[str, str] | None = None) -> Server:
        server = launch(project, tmp_path, *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def churn_server(
    registered_churn_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One open (no API keys) server over the shared project, for tests that do not move aliases."""
    server = launch(registered_churn_project, tmp_path_factory.mktemp("logs"))
    yield server
    server.stop()
