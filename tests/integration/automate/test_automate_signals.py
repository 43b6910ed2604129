"""Graceful shutdown of a real agent process: SIGTERM finishes the step, a second abandons it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conveyor.automate import AutomationStore
from conveyor.stores import MetadataStore

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow  # real processes, started and raced

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from conveyor.automate import (Agent, AlertDispatcher, AutomationStore, RetrainOutcome,
                                   compile_triggers)
    from conveyor.config._monitoring import AgentConfig, TriggerConfig
    from conveyor.registry import Registry
    from conveyor.stores import MetadataStore

    url, workdir, retrain_s = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    store = MetadataStore(url)
    automation, registry = AutomationStore(store), Registry(store)

    def retrain():
        (workdir / "retrain-started").write_text("1")
        deadline = time.monotonic() + retrain_s
        while time.monotonic() < deadline:
            time.sleep(0.05)
        version = registry.register("churn", bundle_digest="a" * 64, manifest_digest="a" * 64,
                                    run_id="r", dataset_version=1, config_fingerprint="f",
                                    metrics={}, gates={}, status="challenger").version
        return RetrainOutcome(version=version, status="challenger", reason="better")

    agent = Agent(
        model="churn", automation=automation, registry=registry,
        triggers=compile_triggers([TriggerConfig(name="drift", when="drift.share > 0.3",
                                                 action="retrain")], default_cooldown="1h"),
        metrics=lambda w: {"drift.share": 0.9}, retrain=retrain,
        alerts=AlertDispatcher(automation, [], cooldown_s=0),
        config=AgentConfig(interval="1s"), holder="signal-test",
    )
    (workdir / "running").write_text("1")
    summary = agent.run()
    print(json.dumps({"ticks": summary.ticks, "stopped_by": summary.stopped_by}))
    """
)


def start_agent(url: str, tmp_path: Path, retrain_s: float) -> subprocess.Popen[str]:
    MetadataStore(url).close()
    script = tmp_path / "agent.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, str(script), url, str(tmp_path), str(retrain_s)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str]) -> dict:
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'conveyor.db'}"


def decisions(url: str) -> list[tuple[str, str]]:
    with MetadataStore(url) as store:
        automation = AutomationStore(store)
        assert automation.lock_info("churn") is None  # always released
        return [(d.action, d.reason) for d in automation.list_decisions("churn")]


def test_sigterm_finishes_the_retrain_then_stops(url: str, tmp_path: Path) -> None:
    proc = start_agent(url, tmp_path, retrain_s=2.0)
    wait_for(tmp_path / "retrain-started", proc)
    proc.send_signal(signal.SIGTERM)
    summary = finish(proc)
    assert summary == {"ticks": 1, "stopped_by": "signal"}
    assert [a for a, _ in decisions(url)] == ["retrain", "promote"]


def test_a_second_signal_abandons_the_retrain_cleanly(url: str, tmp_path: Path) -> None:
    proc = start_agent(url, tmp_path, retrain_s=60.0)
    wait_for(tmp_path / "retrain-started", proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    summary = finish(proc)
    assert summary["stopped_by"] == "signal"
    assert decisions(url) == [
        ("retrain_failed", "retrain failed: interrupted (agent stopping); no champion")
    ]


def test_sigint_between_ticks_stops_at_once(url: str, tmp_path: Path) -> None:
    proc = start_agent(url, tmp_path, retrain_s=0.0)
    wait_for(tmp_path / "retrain-started", proc)
    time.sleep(0.5)  # the first tick is done; the agent waits for the next
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    summary = finish(proc)
    assert time.monotonic() - started < 10
    assert summary["stopped_by"] == "signal" and summary["ticks"] >= 1
