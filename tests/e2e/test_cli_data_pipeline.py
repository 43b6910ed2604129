"""The data half of the pipeline driven through the CLI, as a new user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def test_run_then_cached_rerun(cli, data_project: Path) -> None:
    first = cli("run", "--json", cwd=data_project)
    doc = json.loads(first.stdout)
    assert doc["status"] == "succeeded"
    assert [s["name"] for s in doc["steps"]] == ["collect", "validate", "clean", "split"]
    assert all(s["status"] == "succeeded" for s in doc["steps"])
    assert (data_project / "schema.yaml").exists(), "the first run writes the inferred schema"
    sizes = {s["name"]: s["rows_out"] for s in doc["steps"]}
    assert sizes["collect"] == 7043

    second = json.loads(cli("run", "--json", cwd=data_project).stdout)
    assert [s["status"] for s in second["steps"]] == ["cached"] * 4
    assert second["dataset_versions"][0]["digest"] == doc["dataset_versions"][0]["digest"]

    # A typed override changes only the split step.
    third = json.loads(
        cli(
            "run", "--json", "-o", "split.test=0.2", "-o", "split.train=0.65", cwd=data_project
        ).stdout
    )
    assert [s["status"] for s in third["steps"]] == ["cached", "cached", "cached", "succeeded"]

    runs = json.loads(cli("runs", "list", "--json", cwd=data_project).stdout)
    assert [r["id"] for r in runs] == [third["run_id"], second["run_id"], doc["run_id"]]
    shown = json.loads(cli("runs", "show", doc["run_id"][:6], "--json", cwd=data_project).stdout)
    assert [s["name"] for s in shown["steps"]] == ["collect", "validate", "clean", "split"]
    diff = json.loads(
        cli("runs", "diff", doc["run_id"], third["run_id"], "--json", cwd=data_project).stdout
    )
    keys = {d["key"] for d in diff["config"]}
    assert {"split.test", "split.train"} <= keys
    changed = [s["step"] for s in diff["steps"] if not s["same_outputs"]]
    assert changed == ["split"]

    versions = json.loads(cli("data", "list", "--json", cwd=data_project).stdout)
    assert len(versions) == 1 and versions[0]["rows"] == 7043
    shown = json.loads(cli("data", "show", "v1", "--json", cwd=data_project).stdout)
    assert len(shown["head"]) == 5


def test_no_cache_only_and_from(cli, data_project: Path) -> None:
    cli("run", cwd=data_project)
    doc = json.loads(cli("run", "--json", "--no-cache", cwd=data_project).stdout)
    assert all(s["status"] == "succeeded" for s in doc["steps"])
    doc = json.loads(cli("run", "--json", "--from", "clean", cwd=data_project).stdout)
    assert [s["status"] for s in doc["steps"]] == ["cached", "cached", "succeeded", "succeeded"]
    doc = json.loads(cli("run", "--json", "--only", "validate", cwd=data_project).stdout)
    assert [s["status"] for s in doc["steps"]] == ["cached", "succeeded", "skipped", "skipped"]
    bad = cli("run", "--from", "nope", cwd=data_project, check=2)
    assert "no such step" in bad.stderr and "collect" in bad.stderr


def test_config_commands(cli, data_project: Path) -> None:
    out = cli("config", "check", cwd=data_project).stdout
    assert "ok" in out
    schema = json.loads(cli("config", "schema", cwd=data_project).stdout)
    assert "properties" in schema and "split" in schema["properties"]
    shown = cli("config", "show", cwd=data_project, env={"DB_PASSWORD": "hunter2"}).stdout
    assert "project: churn" in shown


def test_secrets_never_reach_the_store_or_output(cli, data_project: Path) -> None:
    cfg = data_project / "conveyor.yaml"
    cfg.write_text(
        cfg.read_text().replace("project: churn", "project: churn\ndescription: ${env:SECRET_DESC}")
    )
    env = {"SECRET_DESC": "s3cr3t-value-123"}
    shown = cli("config", "show", cwd=data_project, env=env).stdout
    assert "s3cr3t-value-123" not in shown and "***" in shown
    run = cli("run", "--json", cwd=data_project, env=env)
    assert "s3cr3t-value-123" not in run.stdout + run.stderr
    db = (data_project / ".conveyor" / "conveyor.db").read_bytes()
    assert b"s3cr3t-value-123" not in db


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t + "\nsplitt: {}\n", "did you mean 'split'"),
        (lambda t: t.replace("target: churn", "target: churnn"), "did you mean 'churn'"),
        (lambda t: t.replace("test: 0.15", "test: 0.25"), "must sum to 1"),
        (lambda t: t.replace("data/churn.csv", "data/nope.csv"), "nope.csv"),
        (lambda t: t + "\n  bad: [\n", "malformed YAML"),
        (
            lambda t: t.replace("project: churn", "project: ${env:NOT_SET_ANYWHERE}"),
            "NOT_SET_ANYWHERE",
        ),
    ],
)
def test_user_errors_exit_2_with_one_headline(cli, data_project: Path, edit, needle: str) -> None:
    cfg = data_project / "conveyor.yaml"
    cfg.write_text(edit(cfg.read_text()))
    proc = cli("run", cwd=data_project, check=2)
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_init_scaffolds_a_runnable_project(cli, tmp_path: Path) -> None:
    cli("init", "demo", cwd=tmp_path)
    root = tmp_path / "demo"
    assert (root / "conveyor.yaml").exists() and (root / "README.md").exists()
    proc = cli("config", "check", cwd=root)
    assert "demo" in proc.stdout
    again = cli("init", "demo", cwd=tmp_path, check=2)
    assert "not empty" in again.stderr


def test_gc_removes_only_unreferenced(cli, data_project: Path) -> None:
    cli("run", cwd=data_project)
    blobs = data_project / ".conveyor" / "artifacts"
    stray = blobs / "sha256" / "00" / ("00" * 30 + "ff")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"nobody references me")
    assert "would remove 0" in cli("gc", "--dry-run", cwd=data_project).stdout, (
        "young blobs are kept"
    )
    dry = cli("gc", "--dry-run", "--min-age", "0", cwd=data_project).stdout
    assert "would remove 1" in dry and stray.exists()
    cli("gc", "--min-age", "0", cwd=data_project)
    assert not stray.exists()
    doc = json.loads(cli("run", "--json", cwd=data_project).stdout)
    assert all(s["status"] == "cached" for s in doc["steps"])


class _StallingAPI:
    """A real HTTP JSON API on loopback whose second page hangs until released."""

    def __init__(self) -> None:
        import http.server
        import threading

        release = self.release = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if "page=2" in self.path:
                    release.wait(60)
                body = json.dumps(
                    {"items": [{"churn": "No", "tenure": 1}]}
                    if "page=1" in self.path
                    else {"items": []}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/customers"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def test_sigkill_mid_run_leaves_store_consistent(cli, data_project: Path) -> None:
    """Kill a real run while a step works; the next run marks it interrupted and works."""
    api = _StallingAPI()
    cfg = data_project / "conveyor.yaml"
    csv_config = cfg.read_text()
    cfg.write_text(
        csv_config.replace(
            "    - path: data/churn.csv",
            f"    - url: {api.url}\n      records_path: items\n      pagination: {{type: page}}",
        )
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "run"],
        cwd=data_project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = data_project / ".conveyor" / "conveyor.db"
    import sqlite3

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows: list[tuple[str]] = []
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        rows = conn.execute(
                            "select name from steps where status='running'"
                        ).fetchall()
                except sqlite3.OperationalError:
                    rows = []
            if ("collect",) in rows:
                break
            time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail(f"the run never reached the collect step: {proc.communicate()}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        api.close()

    cfg.write_text(csv_config)
    doc = json.loads(cli("run", "--json", cwd=data_project).stdout)
    assert doc["status"] == "succeeded"
    runs = json.loads(cli("runs", "list", "--json", cwd=data_project).stdout)
    assert [r["status"] for r in runs] == ["succeeded", "interrupted"]
    assert "ended without finishing" in (runs[1]["error"] or "")
    leftovers = [
        p for p in (data_project / ".conveyor" / "artifacts").rglob("*") if "tmp" in p.name
    ]
    assert leftovers == [], f"partial artifacts visible: {leftovers}"
