"""``conveyor check``, ``conveyor agent --once`` and ``conveyor history`` on a trained churn project
with a prediction log and feedback, through the CLI."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.testing.churn import CHURN_LOGREG_CONFIG

pytestmark = pytest.mark.slow  # trains the churn model, then drives the CLI

AUTOMATION = """
monitor:
  window: 7d
  min_labels: 30
alerts:
  cooldown: 1h
  sinks:
    - {type: log, path: alerts.jsonl}
triggers:
  - {name: accuracy_drop, when: "performance.accuracy < 0.9 over 7d", action: retrain}
  - {name: latency, when: "latency.p99_ms > 5000", action: alert}
  - {name: rmse, when: "performance.rmse > 1", action: alert}
  - {name: nightly, schedule: "0 2 * * *", action: retrain}
"""


def log_traffic(root: Path, n: int = 200, wrong: float = 0.4) -> None:
    """Score ``n`` churn rows with the champion, log them as a server would, and record feedback
    that disagrees with the true label for a share ``wrong`` of them."""
    import polars as pl

    import conveyor
    from conveyor.registry import fetch_bundle
    from conveyor.stores.feedback import record_feedback
    from conveyor.stores.prediction_log import PredictionLog, default_log_root

    with conveyor.Project(root) as project:
        version = project.registry.resolve("churn@champion")
        bundle = fetch_bundle(project.artifacts, version, root / ".conveyor" / "tmp" / "bundle")
        names = bundle.signature.input_names
        data = pl.read_csv(root / "data" / "churn.csv", infer_schema_length=None)
        data = data.drop_nulls(subset=names).sample(n=n, seed=7)
        records = data.select(names).to_dicts()
        outputs = bundle.runtime().predict_records(records)
        now = datetime.now(UTC)
        rows = [
            {"prediction_id": uuid.uuid4().hex, "model": "churn", "version": version.version,
             "ts": now - timedelta(seconds=n - i), "inputs": record, "prediction": out["label"],
             "probabilities": out["probabilities"], "latency_ms": 2.0 + i % 5, "status": "ok"}
            for i, (record, out) in enumerate(zip(records, outputs, strict=True))
        ]  # fmt: skip
        with PredictionLog(default_log_root(root)) as log:
            log.append(rows)
            log.flush(timeout=30)
        for i, (row, truth) in enumerate(zip(rows, data["churn"].to_list(), strict=True)):
            actual = truth if i >= wrong * n else ("No" if truth == "Yes" else "Yes")
            record_feedback(project.metadata, prediction_id=row["prediction_id"], actual=actual,
                            model="churn")  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> Path:
    import conveyor

    root = tmp_path_factory.mktemp("automate") / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG + AUTOMATION)
    with conveyor.Project(root) as project:
        project.run()
    log_traffic(root)
    return root


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    shutil.copytree(trained, dest)
    return dest


def test_check_exit_codes_and_statuses(cli, project: Path) -> None:
    proc = cli("check", "--dry-run", cwd=project, check=3)
    out = proc.stdout
    assert "accuracy_drop" in out and "fired" in out
    assert "not enough data" in out  # performance.rmse has no value for a classifier
    assert "not due" in out and "1 of 4 trigger(s) fired: accuracy_drop" in out
    assert "(dry run: nothing recorded)" in out

    # recorded this time: the firing starts the trigger's cooldown
    doc = json.loads(cli("check", "--json", cwd=project, check=3).stdout)
    statuses = {r["trigger"]: r["status"] for r in doc["results"]}
    assert statuses == {"accuracy_drop": "fired", "latency": "quiet",
                        "rmse": "not_enough_data", "nightly": "not_due"}  # fmt: skip
    accuracy = next(r for r in doc["results"] if r["trigger"] == "accuracy_drop")
    assert 0.4 < accuracy["values"]["performance.accuracy"] < 0.8
    assert accuracy["window"] == "7d" and doc["fired"] == ["accuracy_drop"]

    # nothing fires now: exit 0
    calm = json.loads(cli("check", "--dry-run", "--json", cwd=project).stdout)
    assert {r["trigger"]: r["status"] for r in calm["results"]}["accuracy_drop"] == "cooldown"
    assert calm["fired"] == []


def test_a_bad_trigger_fails_before_anything_runs(cli, project: Path) -> None:
    config = project / "conveyor.yaml"
    config.write_text(config.read_text().replace("performance.accuracy <", "performance.acuracy <"))
    for args in (("check",), ("config", "check"), ("agent", "--once")):
        proc = cli(*args, cwd=project, check=2)
        err = proc.stderr
        assert "conveyor.yaml:" in err and "triggers[0].when" in err, err
        assert "unknown metric 'performance.acuracy' at column 1" in err
        assert "did you mean 'performance.accuracy'?" in err
        assert "known metrics: performance.accuracy" in err


def test_agent_once_retrains_and_history_shows_the_evidence(cli, project: Path) -> None:
    proc = cli("agent", "--once", "-o", "data.include_feedback=true", cwd=project)
    assert "1 fired" in proc.stdout and "(accuracy_drop)" in proc.stdout
    assert "agent stopped (max_ticks) after 1 tick(s)" in proc.stdout

    history = json.loads(cli("history", "--json", cwd=project).stdout)
    actions = [d["action"] for d in history]
    assert actions[0] == "retrain" and len(actions) == 2
    assert actions[1] in ("reject", "promote")  # the promotion rule on the new test split
    retrain = history[0]
    assert (retrain["from_version"], retrain["to_version"]) == (1, 2)
    trigger = retrain["evidence"]["triggers"][0]
    assert trigger["trigger"] == "accuracy_drop" and trigger["window"] == "7d"
    assert trigger["values"]["performance.accuracy"] < 0.9
    assert retrain["evidence"]["version"]["metrics"]["roc_auc"] > 0.7
    assert history[1]["evidence"]["retrain_decision"] == retrain["id"]

    text = cli("history", "churn", cwd=project).stdout
    assert "retrain" in text and "v1 -> v2" in text
    assert "triggers[0].values: performance.accuracy" in text
    assert "triggers[0].condition: performance.accuracy < 0.9 over 7d" in text
    brief = cli("history", "--brief", "-n", "1", cwd=project).stdout
    assert "triggers[0]" not in brief and actions[1] in brief

    alerts = [json.loads(line) for line in (project / "alerts.jsonl").read_text().splitlines()]
    assert alerts and alerts[-1]["key"] == f"churn:decision:{actions[1]}:v2"
    # the retrain is a recorded run, and it took the 200 labelled predictions as rows
    import conveyor

    with conveyor.Project(project) as opened:
        run = opened.metadata.get_run(retrain["evidence"]["run_id"])
        collect = next(s for s in opened.metadata.list_steps(run.id) if s.name == "collect")
    assert run.kind == "retrain" and collect.metrics["feedback_rows"] == 200


def test_agent_survives_a_failed_retrain(cli, project: Path) -> None:
    (project / "data" / "churn.csv").rename(project / "data" / "moved.csv")
    proc = cli("agent", "--once", cwd=project)
    assert "retrain_failed v1 -> -" in proc.stdout
    history = json.loads(cli("history", "--json", cwd=project).stdout)
    assert [d["action"] for d in history] == ["retrain_failed"]
    assert "data/churn.csv" in history[0]["reason"]
    assert history[0]["reason"].endswith("v1 keeps serving")
    models = cli("models", "list", cwd=project).stdout
    assert "champion=v1" in models
    alert = json.loads((project / "alerts.jsonl").read_text().splitlines()[-1])
    assert alert["title"] == "churn: retrain failed" and alert["severity"] == "critical"


def test_history_of_a_model_without_decisions(cli, project: Path) -> None:
    assert "no decisions recorded for 'churn' yet" in cli("history", cwd=project).stdout
    assert json.loads(cli("history", "--json", cwd=project).stdout) == []
