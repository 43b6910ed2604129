"""``conveyor monitor`` on a trained churn project with a prediction log and feedback."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import conveyor
from conveyor.monitor import list_monitor_runs
from conveyor.registry import fetch_bundle
from conveyor.stores.feedback import record_feedback
from conveyor.stores.prediction_log import PredictionLog, default_log_root
from conveyor.testing.churn import CHURN_LOGREG_CONFIG

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> Path:
    """churn v1 trained; 600 predictions of the last day logged, 300 of them labelled."""
    root = tmp_path_factory.mktemp("monitor-e2e") / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG)
    with conveyor.Project(root) as project:
        project.run()
        bundle = fetch_bundle(project.artifacts, project.registry.get("churn", 1),
                              tmp_path_factory.mktemp("b") / "bundle")  # fmt: skip
        data = pl.read_csv(churn_csv, infer_schema_length=None)
        data = data.drop_nulls(subset=bundle.signature.input_names).head(600)
        records = data.select(bundle.signature.input_names).to_dicts()
        outputs = bundle.runtime().predict_records(records)
        rows = [
            {"prediction_id": uuid.uuid4().hex, "model": "churn", "version": 1,
             "ts": NOW - timedelta(hours=20) + i * timedelta(minutes=2), "inputs": record,
             "prediction": out["label"], "probabilities": out["probabilities"],
             "latency_ms": 2.0 + i % 7}
            for i, (record, out) in enumerate(zip(records, outputs, strict=True))
        ]  # fmt: skip
        with PredictionLog(default_log_root(root)) as log:
            log.append(rows)
        for row, actual in zip(rows[:300], data["churn"].to_list()[:300], strict=True):
            record_feedback(project.metadata, prediction_id=row["prediction_id"], actual=actual)
    return root


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    shutil.copytree(trained, dest)
    return dest


def configure(root: Path, section: str, values: dict) -> None:
    """Set keys of one section of the project's conveyor.yaml."""
    import yaml

    path = root / "conveyor.yaml"
    config = yaml.safe_load(path.read_text())
    config[section] = {**(config.get(section) or {}), **values}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_tables_reports_and_a_stored_run(cli, project: Path) -> None:
    out = cli("monitor", "--window", "2d", "--fail-on", "drift", cwd=project).stdout
    assert "--fail-on drift: passed" in out
    assert "churn" in out and "600 predictions (v1), 300 labelled; judged against v1" in out
    for title in ("drift", "data quality", "live performance", "serving health"):
        assert title in out
    assert "no dataset drift" in out
    reports = [
        Path(line.strip()) for line in out.splitlines() if line.strip().endswith((".html", ".json"))
    ]
    assert [p.suffix for p in reports] == [".html", ".json"]
    assert all(p.is_file() and p.parent == project / ".conveyor" / "reports" for p in reports)
    assert json.loads(reports[1].read_text())["metrics"]["performance.labels"] == 300.0
    with conveyor.Project(project) as opened:
        assert len(list_monitor_runs(opened.metadata, "churn")) == 1


def test_json_output_no_store_and_bad_feedback(cli, project: Path) -> None:
    with conveyor.Project(project) as opened:
        for pid, actual in zip(_logged_ids(project)[300:303], ["Maybe", True, 3.5], strict=True):
            record_feedback(opened.metadata, prediction_id=pid, actual=actual)
    report = project / "out" / "monitor.html"
    proc = cli("monitor", "churn", "--window", "2d", "--json", "--no-store",
               "--report", str(report), cwd=project)  # fmt: skip
    document = json.loads(proc.stdout)
    assert document["n_predictions"] == 600 and document["n_labelled"] == 300
    assert set(document["metrics"]) >= {"drift.share", "performance.roc_auc", "latency.p95_ms"}
    assert document["reports"] == {"html": str(report), "json": str(report.with_suffix(".json"))}
    assert report.is_file() and document["run_id"] is None
    invalid = document["performance"]["invalid_labels"]
    assert invalid["count"] == 3 and invalid["examples"] == ['"Maybe"', "true", "3.5"]
    assert "warning: 3 feedback label(s) ignored: labels that are not one of the model's" in (
        proc.stderr
    )
    with conveyor.Project(project) as opened:
        assert list_monitor_runs(opened.metadata, "churn") == []


def test_fail_on_performance_uses_the_evaluate_gates(cli, project: Path) -> None:
    configure(project, "evaluate", {"gates": {"roc_auc": ">= 0.99", "accuracy": ">= 0.5"}})
    failed = cli("monitor", "--window", "2d", "--fail-on", "performance", cwd=project, check=1)
    assert "--fail-on performance: failed" in failed.stdout
    assert "(gate: roc_auc >= 0.99) on 300 labelled predictions" in failed.stdout
    configure(project, "monitor", {"min_labels": 1000})
    thin = cli("monitor", "--window", "2d", "--fail-on", "performance", cwd=project, check=3)
    assert "300 labelled prediction(s), fewer than monitor.min_labels (1000)" in thin.stdout


def test_fail_on_drift(cli, project: Path) -> None:
    # The same customers again, a year on and on other contracts: six inputs move.
    shifted = {"tenure": 72, "contract": "Two year", "payment_method": "Mailed check",
               "internet_service": "No", "paperless_billing": 0.0, "senior_citizen": 1}  # fmt: skip
    logged = pl.read_parquet(sorted(default_log_root(project).glob("churn/v1/*/*/*.parquet")))
    fixed = {"prediction_id", "model", "version", "ts", "prediction", "probabilities",
             "latency_ms", "fallback", "status"}  # fmt: skip
    rows = [
        {"prediction_id": uuid.uuid4().hex, "model": "churn", "version": 1,
         "ts": NOW + timedelta(hours=1), "prediction": row["prediction"],
         "inputs": {**{k: v for k, v in row.items() if k not in fixed}, **shifted}}
        for row in logged.iter_rows(named=True)
    ]  # fmt: skip
    with PredictionLog(default_log_root(project)) as log:
        log.append(rows)
    window = ["--since", (NOW + timedelta(minutes=30)).isoformat(), "--window", "1h"]
    failed = cli("monitor", *window, "--fail-on", "drift", "--no-store", cwd=project, check=1)
    assert "--fail-on drift: failed" in failed.stdout
    assert "dataset drift: 6 of 19 features drifted" in failed.stdout


def test_nothing_to_monitor(cli, project: Path) -> None:
    judged = cli("monitor", "--since", "2020-01-01", "--window", "1d", "--fail-on", "drift",
                 cwd=project, check=3)  # fmt: skip
    assert "nothing to monitor: no prediction of 'churn' was logged between" in judged.stdout
    assert "--fail-on drift: not judged" in judged.stdout
    assert "ZeroDivision" not in judged.stdout + judged.stderr


def _logged_ids(root: Path) -> list[str]:
    files = sorted(default_log_root(root).glob("churn/v1/*/*/part-*.parquet"))
    return pl.read_parquet(files).sort("ts")["prediction_id"].to_list()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "7days"], "--window: '7days' is not a duration"),
        (["--since", "yesterday"], "--since: 'yesterday' is not an ISO date or time"),
        (["--fail-on", "accuracy"], "--fail-on: 'accuracy': expected drift or performance"),
        (["--report", "out.json"], "name the HTML report; the JSON report is written beside it"),
        (["fraud"], "model 'fraud' is not registered; known models: churn"),
        (["--version", "7"], "model 'churn' has no version 7"),
        (["--fail-on", "performance"], "--fail-on performance: evaluate.gates is empty"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    cli, trained: Path, args: list[str], message: str
) -> None:
    proc = cli("monitor", *args, cwd=trained, check=2)
    assert message in proc.stderr
