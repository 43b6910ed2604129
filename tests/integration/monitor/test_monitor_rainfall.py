"""Real drift over time: the rainfall data (daily weather, time ordered) on consecutive windows.

A model is trained on the first 2,000 days; five later stretches of 1,000 days
are logged as five consecutive days of predictions. Monitoring each day finds
little drift in the stretch right after training and a growing share of
drifted features later on, and the report plots the stored series.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import conveyor
from conveyor.monitor import history_points, metric_series, write_monitor_reports
from conveyor.registry import fetch_bundle
from conveyor.stores.prediction_log import PredictionLog, default_log_root

CONFIG = """
version: 1
project: rain
task: binary
target: rain
positive_class: 1
data:
  sources:
    - path: data/rain.csv
split:
  method: stratified
models:
  - name: logreg
    estimator: logistic_regression
    params: {C: 1.0, max_iter: 300}
evaluate:
  threshold: default
  cv_folds: null
  permutation_importance: false
"""
DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
TRAIN, BLOCK, STRIDE, WINDOWS = 2000, 1000, 3000, 5


@pytest.fixture(scope="module")
def rainfall(shared_datasets: Path) -> pl.DataFrame:
    return pl.read_csv(shared_datasets / "rainfall" / "rainfall_data.csv").drop("")


def test_drift_grows_over_consecutive_windows(rainfall: pl.DataFrame, tmp_path: Path) -> None:
    root = tmp_path / "rain"
    (root / "data").mkdir(parents=True)
    rainfall[:TRAIN].write_csv(root / "data" / "rain.csv")
    (root / "conveyor.yaml").write_text(CONFIG)
    with conveyor.Project(root) as project:
        project.run()
        version = project.registry.resolve("rain@champion")
        bundle = fetch_bundle(project.artifacts, version, tmp_path / "bundle")
        runtime, names = bundle.runtime(), bundle.signature.input_names
        rows = []
        for day in range(WINDOWS):
            start = TRAIN + day * STRIDE
            records = rainfall[start : start + BLOCK].select(names).to_dicts()
            for i, (record, out) in enumerate(zip(records, runtime.predict_records(records))):
                rows.append({
                    "prediction_id": uuid.uuid4().hex, "model": "rain", "version": version.version,
                    "ts": DAY0 + timedelta(days=day, seconds=80 * i), "inputs": record,
                    "prediction": out["label"], "probabilities": out["probabilities"],
                })  # fmt: skip
        with PredictionLog(default_log_root(root)) as log:
            log.append(rows)
        results = [project.monitor(since=DAY0 + timedelta(days=d), window="1d") for d in range(5)]
        shares = [r.drift.share for r in results if r.drift is not None]
        assert [r.n_predictions for r in results] == [BLOCK] * WINDOWS
        assert len(shares) == WINDOWS
        # Right after training: at most a feature or two; years later: most of them.
        assert not results[0].drift.dataset_drift
        assert results[-1].drift.dataset_drift and results[-2].drift.dataset_drift
        assert min(shares[-2:]) >= shares[0] + 0.25
        assert len(results[-2].drift.drifted_columns()) > len(results[0].drift.drifted_columns())
        # The run of each window is a point of the stored series, in window order.
        series = metric_series(project.metadata, "rain", "drift.share")
        assert [p.value for p in series] == pytest.approx(shares)
        assert [p.window_end for p in series] == [DAY0 + timedelta(days=d + 1) for d in range(5)]
        html, _ = write_monitor_reports(
            results[-1],
            tmp_path / "rain.html",
            history=history_points(project.metadata, results[-1]),
        )
    text = html.read_text()
    assert "Drift over time" in text and "From 5 stored monitor run(s)" in text
