"""Two agents never retrain the same model at once: real processes racing on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
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

LOCK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import UTC, datetime
    from conveyor.automate import AutomationStore
    from conveyor.stores import MetadataStore

    url, go, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    automation = AutomationStore(MetadataStore(url))
    automation.lock_info("warm-up")  # connect before the race
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    start_at = float(open(go).read())
    won = []
    for r in range(rounds):
        while time.time() < start_at + r * 0.1:
            time.sleep(0.0005)
        if automation.acquire_lock(f"model{r}", holder=f"p{os.getpid()}", ttl_s=600,
                                   now=datetime.now(UTC)):
            won.append(r)
    print(json.dumps(won))
    """
)

AGENT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from conveyor.automate import (Agent, AlertDispatcher, AutomationStore, RetrainOutcome,
                                   compile_triggers)
    from conveyor.config._monitoring import TriggerConfig
    from conveyor.registry import Registry
    from conveyor.stores import MetadataStore

    url, go, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    store = MetadataStore(url)
    automation = AutomationStore(store)

    def retrain():
        with open(marker, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(1.5)
        raise RuntimeError("the retrain of this test always fails")

    triggers = compile_triggers(
        [TriggerConfig(name="drift", when="drift.share > 0.3", action="retrain")],
        default_cooldown="1h",
    )
    agent = Agent(model="churn", automation=automation, registry=Registry(store),
                  triggers=triggers, metrics=lambda w: {"drift.share": 0.9}, retrain=retrain,
                  alerts=AlertDispatcher(automation, [], cooldown_s=0))
    automation.lock_info("warm-up")
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    report = agent.tick()
    print(json.dumps({"decisions": [d.action for d in report.decisions], "notes": report.notes}))
    """
)


def _spawn(script: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _start(procs: list[subprocess.Popen[str]], go: Path) -> None:
    """Wait until every process is ready, then let them all go at the same moment."""
    for proc in procs:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "ready", proc.communicate(timeout=60)
    tmp = go.with_suffix(".tmp")
    tmp.write_text(str(time.time() + 0.05))
    tmp.rename(go)


def _results(procs: list[subprocess.Popen[str]]) -> list:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_lock_race_between_processes(store_url: str, tmp_path: Path) -> None:
    MetadataStore(store_url).close()  # migrate once, before the race
    script = tmp_path / "race.py"
    script.write_text(LOCK_SCRIPT)
    rounds, go = 6, tmp_path / "go"
    procs = [_spawn(script, store_url, str(go), str(rounds)) for _ in range(3)]
    _start(procs, go)
    won = _results(procs)
    winners = sorted(r for rounds_won in won for r in rounds_won)
    assert winners == list(range(rounds)), won  # every round: exactly one winner
    with MetadataStore(store_url) as store:
        holders = {AutomationStore(store).lock_info(f"model{r}").holder for r in range(rounds)}
    assert holders <= {f"p{p.pid}" for p in procs}


def test_two_agents_never_retrain_the_same_model_at_once(store_url: str, tmp_path: Path) -> None:
    MetadataStore(store_url).close()
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    marker = tmp_path / "retrains.txt"
    go = tmp_path / "go"
    procs = [_spawn(script, store_url, str(go), str(marker)) for _ in range(2)]
    _start(procs, go)
    first, second = _results(procs)
    assert len(marker.read_text().splitlines()) == 1  # one retrain ran
    outcomes = sorted([first["decisions"], second["decisions"]])
    assert outcomes == [[], ["retrain_failed"]]
    loser = first if not first["decisions"] else second
    assert any("holds the lock" in note for note in loser["notes"])
    with MetadataStore(store_url) as store:
        automation = AutomationStore(store)
        assert automation.lock_info("churn") is None  # released by the winner
        firings = automation.list_firings("churn")
    assert sorted(f.outcome.split(":")[0] for f in firings) == ["retrain failed", "skipped"]
