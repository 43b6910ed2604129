"""Live performance from labelled predictions: overall, per version, slices, over time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from conveyor.errors import ConfigError
from conveyor.monitor._performance import ScoringSpec, bucket_edges, live_performance

T0 = datetime(2026, 11, 20, tzinfo=UTC)
SPEC = ScoringSpec(task="binary", classes=["No", "Yes"], positive_class="Yes", min_labels=30)


def labelled(n: int = 400, *, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.3
    p_yes = np.clip(np.where(truth, 0.65, 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    return pl.DataFrame(
        {
            "version": [1 if i % 4 else 2 for i in range(n)],
            "ts": [T0 + timedelta(hours=i * 48 / n) for i in range(n)],
            "status": ["ok"] * n,
            "prediction": np.where(p_yes >= 0.5, "Yes", "No"),
            "probabilities": [json.dumps({"No": 1 - p, "Yes": p}) for p in p_yes],
            "label": np.where(truth, "Yes", "No"),
            "contract": rng.choice(["Month-to-month", "One year", None], n).tolist(),
            "tenure": rng.integers(0, 72, n),
        }
    )


def test_overall_figures_equal_scikit_learn() -> None:
    data = labelled()
    out = live_performance(data, SPEC)
    overall = out["overall"]
    y, pred = data["label"].to_numpy(), data["prediction"].to_numpy()
    p_yes = np.array([json.loads(p)["Yes"] for p in data["probabilities"]])
    assert overall["labels"] == 400 == out["labelled"]
    assert overall["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert overall["metrics"]["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="Yes"))
    assert overall["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "Yes", p_yes))


def test_per_version_and_per_bucket_figures_carry_their_label_counts() -> None:
    data = labelled()
    out = live_performance(data, SPEC, edges=bucket_edges(T0, T0 + timedelta(days=2)))
    assert {v: f["labels"] for v, f in out["versions"].items()} == {"1": 300, "2": 100}
    assert len(out["over_time"]) == 48
    assert sum(b["labels"] for b in out["over_time"]) == 400
    # about 8 labels an hour: fewer than min_labels, so no figures but a note.
    assert all(not b["metrics"] for b in out["over_time"])
    assert "fewer than monitor.min_labels (30)" in out["over_time"][0]["notes"][0]


def test_notes_name_classes_and_unknown_predictions_are_kept() -> None:
    data = labelled().with_columns(prediction=pl.lit("No"))
    data = data.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("(fallback)")).otherwise("prediction")
        .alias("prediction")
    )  # fmt: skip
    overall = live_performance(data, SPEC)["overall"]
    assert "precision: no row was predicted 'Yes'; reported as 0" in overall["notes"]
    y = data["label"].to_numpy()
    assert overall["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(y, data["prediction"].to_numpy())
    )


def test_too_few_labels_leave_the_figures_empty() -> None:
    out = live_performance(labelled(20), SPEC)
    assert out["overall"] == {
        "labels": 20,
        "metrics": {},
        "notes": ["20 labelled prediction(s): fewer than monitor.min_labels (30)"],
    }


def test_slices_by_category_and_by_quartile() -> None:
    data = labelled(800)
    out = live_performance(data, SPEC, slices={"contract": "contract", "tenure": "tenure"})
    contract = {g["value"]: g["labels"] for g in out["slices"]["contract"]}
    assert set(contract) == {"Month-to-month", "One year", "(missing)"}
    assert sum(contract.values()) == 800
    tenure = out["slices"]["tenure"]
    assert len(tenure) == 4 and sum(g["labels"] for g in tenure) == 800
    assert tenure[0]["value"].startswith("[0, ")


def test_an_unknown_slice_column_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"monitor\.slices: 'region' not in the labelled"):
        live_performance(labelled(), SPEC, slices={"region": "region"})


def test_fallback_answers_without_probabilities_still_count_for_label_metrics() -> None:
    data = labelled().with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("probabilities"))
        .alias("probabilities")
    )  # fmt: skip
    overall = live_performance(data, SPEC)["overall"]
    assert overall["labels"] == 400 and "accuracy" in overall["metrics"]
    assert "roc_auc" in overall["metrics"]
    assert any("on the 360 of 400 labelled predictions" in n for n in overall["notes"])


def test_shadow_rows_count_for_their_version_only() -> None:
    data = labelled().with_columns(
        pl.when(pl.col("version") == 2)
        .then(pl.lit("shadow"))
        .otherwise(pl.lit("ok"))
        .alias("status")
    )
    out = live_performance(data, SPEC)
    assert out["overall"]["labels"] == 300 and out["versions"]["2"]["labels"] == 100


def test_regression_figures() -> None:
    spec = ScoringSpec(task="regression", classes=None, positive_class=None, min_labels=5)
    data = pl.DataFrame(
        {"version": [1] * 6, "ts": [T0] * 6, "status": ["ok"] * 6,
         "prediction": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "label": [1.0, 2.0, 3.0, 4.0, 5.0, 8.0]}
    )  # fmt: skip
    metrics = live_performance(data, spec)["overall"]["metrics"]
    assert metrics["mae"] == pytest.approx(2 / 6)
    assert metrics["rmse"] == pytest.approx(np.sqrt(4 / 6))


@pytest.mark.parametrize(
    ("days", "count"), [(1, 24), (7, 7), (90, 13)],
)  # fmt: skip
def test_bucket_edges_cover_the_window(days: int, count: int) -> None:
    edges = bucket_edges(T0, T0 + timedelta(days=days))
    assert edges[0] == T0 and edges[-1] == T0 + timedelta(days=days)
    assert len(edges) - 1 == count
