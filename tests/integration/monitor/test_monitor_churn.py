"""``monitor_model`` on a real churn model: a real SQLite store, a real prediction log, feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

import conveyor
from conveyor.errors import ConfigError, NotFound
from conveyor.monitor import list_monitor_runs, metric_series
from conveyor.stores.feedback import record_feedback
from conveyor.stores.prediction_log import PredictionLog, default_log_root

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)


def log(root: Path, rows: list[dict]) -> None:
    with PredictionLog(default_log_root(root)) as writer:
        writer.append(rows)


def label(project: conveyor.Project, rows: list[dict], truth: list[object]) -> None:
    for row, actual in zip(rows, truth, strict=True):
        record_feedback(project.metadata, prediction_id=row["prediction_id"], actual=actual,
                        model="churn")  # fmt: skip


def test_figures_match_a_direct_computation_and_are_stored(
    project_root: Path, churn_scorer
) -> None:
    rows, truth = churn_scorer.rows(600, start=NOW - 30 * HOUR, step=timedelta(minutes=3))
    log(project_root, rows)
    with conveyor.Project(project_root) as project:
        label(project, rows[:400], truth[:400])
        result = project.monitor(window="2d")
        assert (result.n_predictions, result.n_labelled) == (600, 400)
        assert result.versions == [1] and result.primary_version == result.serving_version == 1
        y = np.array(truth[:400])
        pred = np.array([r["prediction"] for r in rows[:400]])
        p_yes = np.array([r["probabilities"]["Yes"] for r in rows[:400]])
        metrics = result.metrics()
        assert metrics["performance.accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert metrics["performance.f1"] == pytest.approx(skm.f1_score(y, pred, pos_label="Yes"))
        assert metrics["performance.roc_auc"] == pytest.approx(skm.roc_auc_score(y == "Yes", p_yes))
        assert metrics["performance.labels"] == 400.0 and metrics["data.rows"] == 600.0
        assert metrics["fallback.rate"] == pytest.approx(24 / 600)
        assert metrics["latency.p50_ms"] == pytest.approx(
            np.median([r["latency_ms"] for r in rows])
        )
        assert result.drift is not None and result.drift.n_current == 600
        assert len(result.drift.columns) == 19
        assert result.quality["schema_violations"] == 0
        # stored: the run, its snapshot as a series, per-version and per-column figures
        runs = list_monitor_runs(project.metadata, "churn")
        assert [r.id for r in runs] == [result.run_id]
        assert runs[0].summary["metrics"]["performance.labels"] == 400.0
        series = metric_series(project.metadata, "churn", "performance.accuracy")
        assert [p.value for p in series] == [metrics["performance.accuracy"]]
        assert (
            metric_series(project.metadata, "churn", "performance.labels", version=1)[0].value
            == 400
        )
        tenure = metric_series(project.metadata, "churn", "drift.statistic", column="tenure")
        assert tenure[0].value == pytest.approx(
            next(c.statistic for c in result.drift.columns if c.column == "tenure")
        )


def test_a_window_without_predictions_is_nothing_to_monitor(
    project_root: Path, churn_scorer
) -> None:
    rows, _ = churn_scorer.rows(10, start=NOW - 50 * HOUR, step=HOUR)
    log(project_root, rows)
    with conveyor.Project(project_root) as project:
        result = project.monitor(window="1h")
        assert result.empty and result.drift is None
        assert result.metrics()["data.rows"] == 0.0 and result.metrics()["drift.share"] is None
        assert "nothing to monitor: no prediction of 'churn' was logged between" in result.notes[0]
        assert "the log holds predictions of v1 from" in result.notes[0]
        assert list_monitor_runs(project.metadata, "churn") == [], "an empty window is not stored"


def test_an_empty_log_says_so(project_root: Path) -> None:
    with conveyor.Project(project_root) as project:
        result = project.monitor()
    assert result.empty and "holds no prediction of 'churn'" in result.notes[0]


def test_unknown_model_or_version_is_not_found(project_root: Path) -> None:
    with conveyor.Project(project_root) as project:
        with pytest.raises(NotFound, match="nosuch"):
            project.monitor("nosuch")
        with pytest.raises(NotFound, match="no version 9"):
            project.monitor(version=9)
        with pytest.raises(ConfigError, match="names v1 but --version is 2"):
            project.monitor("churn:1", version=2)


def test_bad_feedback_is_counted_not_fatal(project_root: Path, churn_scorer) -> None:
    rows, truth = churn_scorer.rows(100, start=NOW - 5 * HOUR, step=timedelta(minutes=2))
    log(project_root, rows)
    with conveyor.Project(project_root) as project:
        label(project, rows[:60], truth[:60])
        label(project, rows[60:63], ["Maybe", True, 1])
        result = project.monitor(window="1d", store_results=False)
    invalid = result.performance["invalid_labels"]
    assert invalid["count"] == 3
    assert invalid["examples"] == ['"Maybe"', "true", "1"]
    assert result.n_labelled == 60
    assert any("3 feedback label(s) ignored" in note for note in result.notes)


def test_shadow_and_canary_versions(project_root: Path, churn_scorer) -> None:
    """v2 (the same bundle registered again) answers in shadow: it gets its own figures."""
    with conveyor.Project(project_root) as project:
        v1 = project.registry.get("churn", 1)
        project.registry.register(
            "churn", bundle_digest=v1.bundle_digest, manifest_digest=v1.manifest_digest,
            run_id=v1.run_id, dataset_version=v1.dataset_version,
            config_fingerprint=v1.config_fingerprint, metrics=v1.metrics, gates=v1.gates,
        )  # fmt: skip
    rows, truth = churn_scorer.rows(200, start=NOW - 3 * HOUR, step=timedelta(seconds=30))
    shadow = [
        {**r, "version": 2, "status": "shadow", "prediction_id": f"{r['prediction_id']}-shadow",
         "latency_ms": 50.0}
        for r in rows
    ]  # fmt: skip
    log(project_root, rows + shadow)
    with conveyor.Project(project_root) as project:
        label(project, rows[:120], truth[:120])
        result = project.monitor(window="1d", store_results=False)
        only_v2 = project.monitor(version=2, window="1d", store_results=False)
    assert result.versions == [1, 2] and result.primary_version == 1
    assert result.n_predictions == 200, "shadow rows are not served predictions"
    perf = result.performance
    assert perf["overall"]["labels"] == 120 and perf["versions"]["2"]["labels"] == 120
    assert result.health["versions"]["2"]["p50_ms"] == 50.0
    assert result.health["versions"]["2"]["shadow_rows"] == 200
    assert result.metrics()["latency.p99_ms"] < 50.0, "shadow latency is not what callers saw"
    assert only_v2.versions == [2] and only_v2.primary_version == 2
    assert only_v2.n_predictions == 0 and only_v2.drift is None and not only_v2.empty
    assert only_v2.performance["versions"]["2"]["labels"] == 120


def test_new_rows_count_predictions_since_the_serving_version_was_registered(
    project_root: Path, churn_scorer
) -> None:
    with conveyor.Project(project_root) as project:
        registered = project.registry.get("churn", 1).created_at
    before, _ = churn_scorer.rows(30, start=registered - 40 * HOUR, step=HOUR)
    after, _ = churn_scorer.rows(
        7, start=registered + timedelta(seconds=1), step=timedelta(seconds=1)
    )
    log(project_root, before + after)
    with conveyor.Project(project_root) as project:
        result = project.monitor(until=registered + HOUR, window="3d", store_results=False)
    assert result.n_predictions == 37
    assert result.metrics()["data.new_rows"] == 7.0


def test_slices_and_shifted_inputs(project_root: Path, churn_scorer) -> None:
    rows, truth = churn_scorer.rows(
        1500, start=NOW - 20 * HOUR, step=timedelta(seconds=40),
        shift={"tenure": 70, "contract": "Two year"}, logged={"internet_service": "Cable"},
    )  # fmt: skip
    log(project_root, rows)
    config = (project_root / "conveyor.yaml").read_text() + "monitor:\n  slices: [payment_method]\n"
    (project_root / "conveyor.yaml").write_text(config)
    with conveyor.Project(project_root) as project:
        label(project, rows[:300], truth[:300])
        result = project.monitor(window="1d", store_results=False)
    assert result.drift is not None
    assert {"tenure", "contract", "internet_service"} <= set(result.drift.drifted_columns())
    internet = result.quality["fields"]["internet_service"]
    assert internet["unseen"] == 1500 and internet["unseen_examples"] == ["Cable"]
    # one of the 10 categorical fields holds an unseen value on every row
    assert result.metrics()["data.unseen_categories"] == pytest.approx(0.1)
    slices = result.performance["slices"]["payment_method"]
    assert sum(s["labels"] for s in slices) == 300
    assert {s["value"] for s in slices} <= {
        "Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)",
    }  # fmt: skip
