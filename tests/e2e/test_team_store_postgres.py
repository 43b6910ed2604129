"""One PostgreSQL store shared by a team: two runs, a server and an agent at once.

Real processes against the local PostgreSQL: two ``conveyor run`` with
different parameters, ``conveyor serve`` under continuous load and
``conveyor agent`` ticking, all at the same time. Nothing is lost or
duplicated, nothing deadlocks, and the server follows the champion alias as
the runs move it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conveyor.testing.churn import CHURN_LOGREG_CONFIG, CHURN_RECORD

REPO = Path(__file__).resolve().parents[2]

TEAM = """
serve: {reload_interval_s: 0.5, heartbeat_s: 1.0}
monitor: {window: 1h}
triggers:
  - {name: watch, when: "data.rows > 100000000", action: alert}
agent: {interval: 1s}
"""


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_API_KEYS"}
    env.update({"PYTHONPATH": str(REPO / "src"), "CONVEYOR_DB_URL": db_url, "NO_COLOR": "1"})
    return env


def _start(root: Path, env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "conveyor", "-C", str(root), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


@pytest.mark.postgres
def test_two_runs_a_server_and_an_agent_share_one_postgres_store(
    postgres_url: str, churn_csv: Path, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    from conveyor import Project
    from conveyor.demo import _Server

    root = tmp_path / "team"
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG + TEAM)
    env = _env(postgres_url)
    first = subprocess.run(
        [sys.executable, "-m", "conveyor", "-C", str(root), "run", "-q"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    assert not (root / ".conveyor" / "conveyor.db").exists()  # everything went to PostgreSQL

    os.environ["CONVEYOR_DB_URL"] = postgres_url  # for the _Server subprocess and Project()
    try:
        server = _Server(root, tmp_path / "server.log")
        versions: list[int] = []
        failures: list[str] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                while not stop.is_set():
                    try:
                        r = client.post("/v1/predict", json=CHURN_RECORD)
                        if r.status_code == 200:
                            versions.append(r.json()["version"])
                        else:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))

        thread = threading.Thread(target=load, daemon=True)
        try:
            server.wait_ready()
            thread.start()
            procs = {
                "run-a": _start(root, env, "run", "-q", "-o", "models.0.params.C=0.05",
                                log=tmp_path / "run-a.log"),
                "run-b": _start(root, env, "run", "-q", "-o", "models.0.params.C=20",
                                log=tmp_path / "run-b.log"),
                "agent": _start(root, env, "agent", "--max-ticks", "6", log=tmp_path / "agent.log"),
            }  # fmt: skip
            for name, proc in procs.items():
                try:
                    code = proc.wait(300)
                except subprocess.TimeoutExpired:  # a deadlock would end here
                    proc.kill()
                    log = (tmp_path / f"{name}.log").read_text()
                    raise AssertionError(f"{name} hung:\n{log}") from None
                assert code == 0, f"{name} exited {code}:\n{(tmp_path / f'{name}.log').read_text()}"
            with Project(root) as project:
                champion = project.registry.resolve("churn@champion").version
                numbers = sorted(v.version for v in project.registry.list_versions("churn"))
                with project.metadata.connect() as conn:
                    runs = conn.execute(
                        sa.text("SELECT id, status FROM runs ORDER BY started_at")
                    ).all()
            # the server follows the champion the runs left behind
            deadline = time.monotonic() + 20
            while versions[-1] != champion:
                assert time.monotonic() < deadline, (champion, versions[-20:])
                time.sleep(0.2)
        finally:
            stop.set()
            thread.join(10)
            server.stop()
    finally:
        os.environ.pop("CONVEYOR_DB_URL", None)

    assert failures == [], failures[:5]
    assert numbers == [1, 2, 3]  # one version per run, none lost, none duplicated
    assert len(runs) == 3 and {status for _, status in runs} == {"succeeded"}, runs
    assert len({run_id for run_id, _ in runs}) == 3
    agent_log = (tmp_path / "agent.log").read_text()
    assert "Traceback" not in agent_log, agent_log
