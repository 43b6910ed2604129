"""From a clean dataset to a registered, promoted, reproducible model — through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MODELS = """
features:
  derived:
    charge_per_month: "total_charges / (tenure + 1)"
models:
  - name: logreg
    estimator: logistic_regression
    params: {C: 1.0, max_iter: 500}
  - name: lgbm
    estimator: lightgbm
    params: {n_estimators: 60, learning_rate: 0.1, num_leaves: 15, verbose: -1, n_jobs: 1}
    early_stopping_rounds: 10
    tune:
      n_trials: 3
      space:
        num_leaves: {type: int, low: 7, high: 31}
evaluate:
  primary_metric: roc_auc
  cv_folds: null
  permutation_importance: false
  gates:
    roc_auc: ">= 0.75"
promotion:
  model_name: churn
  min_delta: 0.0
"""


@pytest.fixture
def model_project(data_project: Path) -> Path:
    cfg = data_project / "conveyor.yaml"
    cfg.write_text(cfg.read_text() + MODELS)
    return data_project


def test_train_register_promote_rollback_predict_reproduce(cli, model_project: Path) -> None:
    doc = json.loads(cli("run", "--json", cwd=model_project).stdout)
    assert doc["status"] == "succeeded"
    assert [s["name"] for s in doc["steps"]][-3:] == ["train", "evaluate", "register"]
    summary = doc["summary"]
    assert summary["model"] == "churn v1" and summary["decision"].startswith("champion")
    report = Path(summary["report_html"])
    assert report.exists()
    html = report.read_text()
    assert "<script src=" not in html and "Plotly" in html

    # Nothing changed: every step but register is reused, and no new version appears.
    again = json.loads(cli("run", "--json", cwd=model_project).stdout)
    assert [s["status"] for s in again["steps"]][:-1] == ["cached"] * 6
    assert again["summary"]["model"] == "churn v1"

    # One model parameter changed: the data steps are reused, the models re-run.
    changed = json.loads(
        cli("run", "--json", "-o", "models.0.params.C=0.3", cwd=model_project).stdout
    )
    statuses = {s["name"]: s["status"] for s in changed["steps"]}
    assert [statuses[n] for n in ("collect", "validate", "clean", "split")] == ["cached"] * 4
    assert statuses["train"] == "succeeded"
    assert changed["summary"]["model"] == "churn v2"

    models = json.loads(cli("models", "list", "--json", cwd=model_project).stdout)
    assert models[0]["name"] == "churn" and models[0]["versions"] == 2
    shown = json.loads(cli("models", "show", "churn:1", "--json", cwd=model_project).stdout)
    assert shown[0]["metrics"]["roc_auc"] > 0.75

    cli("models", "promote", "churn", "2", "--reason", "test", cwd=model_project)
    champion = json.loads(
        cli("models", "show", "churn@champion", "--json", cwd=model_project).stdout
    )
    assert champion[0]["version"] == 2
    cli("models", "rollback", "churn", cwd=model_project)
    champion = json.loads(
        cli("models", "show", "churn@champion", "--json", cwd=model_project).stdout
    )
    assert champion[0]["version"] == 1
    history = json.loads(cli("models", "history", "churn", "--json", cwd=model_project).stdout)
    assert [h["action"] for h in history if h["alias"] == "champion"][-2:] in (
        ["promote", "rollback"],
        ["rollback", "promote"],
    )
    cli("models", "tag", "churn", "1", "owner=ml-team", cwd=model_project)

    # Any user alias: set, shown, in the history, removed.
    cli("models", "alias", "churn", "staging", "v2", "--reason", "qa", cwd=model_project)
    staged = json.loads(cli("models", "show", "churn@staging", "--json", cwd=model_project).stdout)
    assert staged[0]["version"] == 2 and "staging" in staged[0]["aliases"]
    cli("models", "alias", "churn", "staging", "--remove", cwd=model_project)
    moves = json.loads(cli("models", "history", "churn", "--alias", "staging", "--json",
                           cwd=model_project).stdout)  # fmt: skip
    assert [(m["action"], m["reason"]) for m in moves][-2:] in (
        [("set", "qa"), ("remove", "set by hand")],
        [("remove", "set by hand"), ("set", "qa")],
    )
    gone = cli("models", "show", "churn@staging", cwd=model_project, check=2)
    assert "staging" in gone.stderr
    both = cli("models", "alias", "churn", "staging", cwd=model_project, check=2)
    assert "give a VERSION to set the alias, or --remove" in both.stderr
    bad = cli("models", "alias", "churn", "Not An Alias", "1", cwd=model_project, check=2)
    assert "alias" in bad.stderr

    out = model_project / "preds.csv"
    cli(
        "predict",
        "--model",
        "churn@champion",
        "--input",
        "data/churn.csv",
        "--output",
        str(out),
        cwd=model_project,
    )
    lines = out.read_text().splitlines()
    assert len(lines) == 7044 and lines[0].endswith("prediction,proba_No,proba_Yes")

    repro = json.loads(cli("reproduce", doc["run_id"], "--json", cwd=model_project).stdout)
    assert repro["identical"], repro["differences"]
    assert repro["metrics"]["roc_auc"] == pytest.approx(shown[0]["metrics"]["roc_auc"], abs=0)


def test_failed_gate_registers_rejected_and_exits_1(cli, model_project: Path) -> None:
    proc = cli("run", "-o", "evaluate.gates.roc_auc=>= 0.99", cwd=model_project, check=1)
    assert "failed its gates" in proc.stderr and "roc_auc" in proc.stderr
    versions = json.loads(cli("models", "show", "churn", "--json", cwd=model_project).stdout)
    assert [v["status"] for v in versions] == ["rejected"]
    missing = cli("models", "show", "churn@champion", cwd=model_project, check=2)
    assert "champion" in missing.stderr


def test_tune_alone_records_best_params(cli, model_project: Path) -> None:
    doc = json.loads(cli("tune", "--json", cwd=model_project).stdout)
    assert doc["status"] == "succeeded"
    assert set(doc["tuning"]) == {"lgbm"}
    assert "num_leaves" in doc["tuning"]["lgbm"]["best_params"]
    bad = cli("tune", "--model", "nope", cwd=model_project, check=2)
    assert "no such candidate" in bad.stderr


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("models.0.estimator=sklearn.linear_model:LogisticRegresion", "LogisticRegression"),
        ("models.0.params.max_iterr=5", "max_iter"),
        ("features.derived.bad=total_charges / (tenure +", "expression"),
        ("models.1.tune.space.num_leaves.low=40", "greater than 'high'"),
    ],
)
def test_model_config_errors_are_precise(
    cli, model_project: Path, override: str, needle: str
) -> None:
    proc = cli("run", "-o", override, cwd=model_project, check=2)
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_model_refs(cli, model_project: Path) -> None:
    cli("run", cwd=model_project)
    for ref, needle in (
        ("churnn", "did you mean"),
        ("churn:9", "versions: 1"),
        ("churn@nope", "champion"),
    ):
        proc = cli("models", "show", ref, cwd=model_project, check=2)
        assert needle in proc.stderr, proc.stderr
