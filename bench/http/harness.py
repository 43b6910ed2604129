"""Process and load-generator plumbing for bench/http_serve.py (stdlib only).

- :func:`ensure_venv`: a peer's venv under bench/.venvs, filled from pinned requirements;
- :class:`Server` / :class:`Running`: start a server in its own process group, wait until it
  answers, check its probability, stop it (SIGTERM to the group, SIGKILL after a grace period);
- :func:`run_wrk`: one wrk run with ``post.lua``, parsed from its ``WRK_JSON`` line, plus the
  server's CPU time per request over the run (:func:`group_cpu`);
- :func:`thread_cpu`, :func:`thread_names`, :func:`cpu_table`: CPU per thread of one server.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"
WRK = "/usr/bin/wrk"


def log(message: str) -> None:
    print(f"[http_serve] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- venvs


def ensure_venv(
    venv: Path, requirements: Path, pins: Sequence[str], *, base_python: str, skip: bool
) -> Path:
    """``venv`` with ``requirements`` plus ``pins`` installed; returns its python.

    A marker file holds a hash of what was installed, so an unchanged venv is
    not reinstalled. ``skip`` trusts whatever is there (and fails if nothing is).
    """
    python = venv / "bin" / "python"
    wanted = requirements.read_text(encoding="utf-8") + "\n" + "\n".join(sorted(pins))
    digest = hashlib.sha256(wanted.encode()).hexdigest()
    marker = venv / ".bench-installed"
    if skip:
        if not python.exists():
            raise SystemExit(f"--skip-install: {venv} does not exist; run once without it")
        return python
    if python.exists() and marker.exists() and marker.read_text().strip() == digest:
        return python
    if not python.exists():
        log(f"creating {venv}")
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    log(f"installing {requirements.name} + {' '.join(pins)} into {venv} (a few minutes)")
    started = time.perf_counter()
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    cmd += ["-r", str(requirements), *pins]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(
            line for line in proc.stderr.splitlines()[-15:] if "is ignored" not in line
        )
        raise RuntimeError(f"pip install into {venv} failed:\n{tail}")
    marker.write_text(digest + "\n")
    log(f"installed in {time.perf_counter() - started:.0f} s")
    return python


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """How to start one server and talk to it."""

    name: str
    cmd: list[str]
    cwd: Path
    url: str  # the prediction endpoint
    ready_url: str
    body: bytes  # one request body
    probability: Callable[[Any], float]  # positive-class probability from a parsed answer
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    start_timeout_s: float = 120.0


@dataclass
class Running:
    server: Server
    proc: subprocess.Popen[bytes]
    log_path: Path
    body_path: Path
    answer: Any = None
    probability: float = float("nan")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start(server: Server, workdir: Path) -> Running:
    """Start ``server`` in a new process group, output to ``workdir/<name>.log``."""
    log_path = workdir / f"{server.name}.log"
    body_path = workdir / f"{server.name}.body.json"
    body_path.write_bytes(server.body)
    env = {**os.environ, **server.env}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            server.cmd,
            cwd=server.cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Running(server, proc, log_path, body_path)


def http(url: str, body: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of a GET (no body) or a JSON POST."""
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(running: Running) -> float:
    """Seconds until the ready URL answers 200; raises with the log tail if it never does."""
    server = running.server
    started = time.perf_counter()
    deadline = started + server.start_timeout_s
    while time.perf_counter() < deadline:
        if not running.alive():
            raise RuntimeError(
                f"{server.name} exited with code {running.proc.returncode} while starting:\n"
                f"{running.log_tail()}"
            )
        try:
            status, _ = http(server.ready_url, timeout=2.0)
            if status == 200:
                return time.perf_counter() - started
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"{server.name} not ready after {server.start_timeout_s:.0f} s:\n{running.log_tail()}"
    )


def check_answer(running: Running, expected: float, tolerance: float) -> float:
    """POST the body once; the positive-class probability, which must be within ``tolerance``."""
    server = running.server
    status, raw = http(server.url, server.body)
    if status != 200:
        raise RuntimeError(f"{server.name} answered {status}: {raw[:500]!r}")
    answer = json.loads(raw)
    running.answer = answer
    got = float(server.probability(answer))
    running.probability = got
    if not abs(got - expected) <= tolerance:
        raise RuntimeError(
            f"{server.name} answered P = {got!r}, the bundle's pipeline gives {expected!r} "
            f"(tolerance {tolerance}): {raw[:300]!r}"
        )
    return got


def stop(running: Running, grace_s: float = 15.0) -> None:
    """SIGTERM to the server's process group, SIGKILL after ``grace_s``; then any stray child."""
    proc = running.proc
    if proc.poll() is not None:
        return
    family = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        log(f"{running.server.name} ignored SIGTERM for {grace_s:.0f} s; killing it")
        _kill(proc.pid, group=True)
        proc.wait(timeout=5)
    _kill(proc.pid, group=True)  # children that stayed in the group (mlflow -> uvicorn)
    time.sleep(0.5)
    for pid in family[1:]:  # children in their own session (BentoML's worker)
        _kill(pid, group=False)


def _kill(pid: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------- wrk


def run_wrk(running: Running, connections: int, duration_s: float) -> dict[str, Any]:
    """One wrk run: 1 thread, ``connections`` keep-alive connections, ``duration_s`` seconds."""
    cmd = [
        WRK,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        running.server.url,
        "--",
        str(running.body_path),
    ]
    cpu_before = group_cpu(running.proc.pid)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    cpu_after = group_cpu(running.proc.pid)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-500:]}{proc.stderr}")
    data = json.loads(line[len("WRK_JSON ") :])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    data["cpu_us"] = (cpu_after - cpu_before) * 1e6 / max(data["requests"], 1)
    return data


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks so far) for every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def descendants(pid: int, table: dict[int, tuple[int, int]] | None = None) -> list[int]:
    """``pid`` and every live process below it (BentoML's workers start their own session)."""
    table = _proc_table() if table is None else table
    found, frontier = [pid], [pid]
    while frontier:
        parents = set(frontier)
        frontier = [p for p, (ppid, _) in table.items() if ppid in parents]
        found.extend(frontier)
    return found


def group_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants.

    Counts a server's whole cost: mlflow's uvicorn child, BentoML's worker.
    """
    table = _proc_table()
    ticks = sum(table[p][1] for p in descendants(pid, table) if p in table)
    return ticks / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- CPU per thread


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """tid -> (user s, system s) of every thread of ``pid`` so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[int(task.name)] = (int(fields[11]) / tick, int(fields[12]) / tick)
    return out


def thread_names(py_spy: Path, pid: int) -> dict[int, str]:
    """tid -> Python thread name, from ``py-spy dump`` (empty if it cannot tell)."""
    proc = subprocess.run([str(py_spy), "dump", "--pid", str(pid)], capture_output=True, text=True)
    names = {}
    for line in proc.stdout.splitlines():
        parts = line.split('"')
        if line.startswith("Thread ") and len(parts) >= 2:
            tid = line.split()[1]
            if tid.isdigit():
                names[int(tid)] = parts[1]
    return names


def cpu_table(
    before: dict[int, tuple[float, float]],
    after: dict[int, tuple[float, float]],
    names: dict[int, str],
    requests: int,
) -> str:
    """CPU µs per request by thread (user + system), busiest first."""
    rows = []
    for tid, (user, system) in after.items():
        u0, s0 = before.get(tid, (0.0, 0.0))
        rows.append((names.get(tid, f"thread {tid}"), user - u0, system - s0))
    rows.sort(key=lambda r: -(r[1] + r[2]))
    scale = 1e6 / max(requests, 1)
    lines = [f"{'CPU per request by thread (/proc)':<40} {'user µs':>8} {'sys µs':>8}"]
    for name, user, system in rows:
        if user + system > 0:
            lines.append(f"{name:<40} {user * scale:>8.0f} {system * scale:>8.0f}")
    total_u, total_s = sum(r[1] for r in rows), sum(r[2] for r in rows)
    lines.append(f"{'all threads':<40} {total_u * scale:>8.0f} {total_s * scale:>8.0f}")
    return "\n".join(lines)
