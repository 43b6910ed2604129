from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conveyor.bundle import (
    OTHER_CATEGORY,
    REFERENCE_FORMAT_VERSION,
    bin_counts,
    build_reference,
    category_key,
)
from conveyor.errors import ModelError


def test_reference_shape_on_churn(
    churn: Any, churn_reference: dict[str, Any], churn_columns: Any
) -> None:
    numeric, categorical = churn_columns
    ref = churn_reference
    assert ref["format_version"] == REFERENCE_FORMAT_VERSION
    assert ref["n_rows"] == len(churn.X_train)
    assert set(ref["features"]) == set(numeric) | set(categorical)
    tenure = ref["features"]["tenure"]
    assert tenure["kind"] == "numeric"
    assert len(tenure["bin_edges"]) == len(tenure["bin_counts"]) + 1
    assert len(tenure["bin_edges"]) <= 21
    assert sum(tenure["bin_counts"]) == tenure["count"] == len(churn.X_train)
    assert tenure["min"] == churn.X_train["tenure"].min()
    assert tenure["max"] == churn.X_train["tenure"].max()
    assert tenure["mean"] == pytest.approx(churn.X_train["tenure"].mean())
    assert len(tenure["sample"]) == len(churn.X_train)  # fewer rows than the 2000 cap
    contract = ref["features"]["contract"]
    assert contract["kind"] == "categorical"
    assert sum(contract["counts"].values()) == contract["count"]
    assert contract["counts"][OTHER_CATEGORY] == 0
    assert contract["n_categories"] == 3
    assert ref["prediction"]["kind"] == "classes"
    assert set(ref["prediction"]["counts"]) <= {"No", "Yes"}
    json.dumps(ref, allow_nan=False)  # strictly valid JSON


def test_missing_rate_and_sample_cap() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    x[:500] = np.nan
    frame = pd.DataFrame({"x": x, "c": ["a"] * 4000 + [None] * 1000})
    ref = build_reference(
        frame, np.zeros(5000), numeric=["x"], categorical=["c"], seed=1, task="binary"
    )
    assert ref["features"]["x"]["missing_rate"] == pytest.approx(0.1)
    assert ref["features"]["x"]["count"] == 4500
    assert len(ref["features"]["x"]["sample"]) == 2000
    assert ref["features"]["c"]["missing_rate"] == pytest.approx(0.2)
    again = build_reference(
        frame, np.zeros(5000), numeric=["x"], categorical=["c"], seed=1, task="binary"
    )
    assert again == ref  # seeded: reproducible


def test_top_categories_and_other_bucket() -> None:
    values = [f"v{i}" for i in range(150) for _ in range(2)] + ["v0"] * 10
    ref = build_reference(
        pd.DataFrame({"c": values}), np.zeros(len(values)), numeric=[], categorical=["c"], seed=0
    )
    counts = ref["features"]["c"]["counts"]
    assert len(counts) == 101  # top 100 + __other__
    assert counts["v0"] == 12
    assert counts[OTHER_CATEGORY] == 100  # 50 categories x 2 rows outside the top 100
    assert ref["features"]["c"]["n_categories"] == 150


def test_regression_predictions_are_summarised_as_values() -> None:
    preds = np.linspace(0.5, 99.5, 300)
    ref = build_reference(pd.DataFrame({"x": preds}), preds, numeric=["x"], categorical=[], seed=0)
    pred = ref["prediction"]
    assert pred["kind"] == "values"
    assert len(pred["bin_edges"]) == 21
    assert pred["bin_edges"][0] == 0.5 and pred["bin_edges"][-1] == 99.5
    assert pred["min"] == 0.5 and pred["max"] == 99.5
    assert sum(pred["fine_counts"]) == pred["count"] == 300


def test_constant_and_empty_numeric_columns() -> None:
    frame = pd.DataFrame({"k": [3.0] * 10, "e": [np.nan] * 10})
    ref = build_reference(
        frame, np.zeros(10), numeric=["k", "e"], categorical=[], seed=0, task="binary"
    )
    assert ref["features"]["k"]["bin_edges"] == [3.0, 3.0]
    assert ref["features"]["k"]["bin_counts"] == [10]
    assert ref["features"]["e"]["count"] == 0 and ref["features"]["e"]["mean"] is None
    json.dumps(ref, allow_nan=False)


def test_unknown_columns_and_bad_prediction_shape_are_errors() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ModelError, match=r"\['nope'\]"):
        build_reference(frame, [0, 1], numeric=["nope"], categorical=[], seed=0)
    with pytest.raises(ModelError, match="one label or value per row"):
        build_reference(frame, np.zeros((2, 2)), numeric=["x"], categorical=[], seed=0)


def test_category_key_is_stable_across_numpy_and_python() -> None:
    assert category_key(np.int64(1)) == category_key(1) == "1"
    assert category_key(np.float64(1.0)) == category_key(1.0) == "1.0"
    assert category_key("a") == "a"


def test_bin_counts_rule_at_the_edges() -> None:
    edges = [0.0, 1.0, 2.0]
    # below the first edge -> first bin; the max and above -> last bin
    assert bin_counts(np.array([-5.0, 0.0, 0.5, 1.0, 2.0, 7.0, np.nan]), edges) == [3, 3]


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e6, 1e6)),
    hnp.arrays(
        np.float64, st.integers(0, 300), elements=st.floats(allow_nan=True, allow_infinity=True)
    ),
)
def test_bin_counts_place_every_finite_value(train: np.ndarray, live: np.ndarray) -> None:
    ref = build_reference(
        pd.DataFrame({"x": train}),
        np.zeros(len(train)),
        numeric=["x"],
        categorical=[],
        seed=0,
        task="binary",
    )
    feat = ref["features"]["x"]
    assert sum(feat["bin_counts"]) == len(train)
    assert feat["bin_edges"] == sorted(feat["bin_edges"])
    counts = bin_counts(live, feat["bin_edges"])
    assert len(counts) == len(feat["bin_counts"])
    assert sum(counts) == int(np.isfinite(live).sum())


def test_discrete_columns_get_a_cell_per_value() -> None:
    values = np.array([0, 1, 1, 2, 2, 2, 5] * 10, dtype=float)
    feat = build_reference(
        pd.DataFrame({"k": values}), None, numeric=["k"], categorical=[], seed=0
    )["features"]["k"]
    assert feat["bin_edges"] == [0.0, 1.0, 2.0, 5.0, 5.0]
    assert feat["bin_counts"] == [10, 20, 30, 10]
    fine = np.array(feat["fine_edges"])
    assert np.all(np.diff(fine) > 0)
    assert fine[0] == 0.0 and fine[-1] == np.nextafter(5.0, np.inf)
    cells = dict(zip(fine[:-1].tolist(), feat["fine_counts"], strict=True))
    assert {v: cells[v] for v in (0.0, 1.0, 2.0, 5.0)} == {0.0: 10, 1.0: 20, 2.0: 30, 5.0: 10}
    assert sum(feat["fine_counts"]) == len(values)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 3000), elements=st.floats(-1e9, 1e9)))
def test_fine_cells_hold_every_value_and_contain_the_coarse_edges(x: np.ndarray) -> None:
    feat = build_reference(pd.DataFrame({"x": x}), None, numeric=["x"], categorical=[], seed=0)[
        "features"
    ]["x"]
    fine = np.array(feat["fine_edges"])
    assert np.all(np.diff(fine) > 0) and fine[0] == x.min() and fine[-1] > x.max()
    assert sum(feat["fine_counts"]) == len(x) == sum(feat["bin_counts"])
    assert set(feat["bin_edges"]) <= set(fine.tolist())
    counts = np.bincount(np.searchsorted(fine, x, side="right") - 1, minlength=len(fine) - 1)
    assert counts.tolist() == feat["fine_counts"]


def test_polars_and_pandas_frames_give_the_same_reference() -> None:
    import polars as pl

    rng = np.random.default_rng(0)
    n = 3000
    frame = pl.DataFrame(
        {
            "x": rng.normal(size=n),
            "i": rng.integers(0, 9, n),
            "s": rng.choice(["a", "b", None], n).tolist(),
            "b": rng.random(n) < 0.3,
            "f": rng.choice([0.5, 1.0, 2.5], n),
            "j": rng.integers(-2, 2, n),
        }
    )
    kw = {"numeric": ["x", "i"], "categorical": ["s", "b", "f", "j"], "seed": 3}
    from_polars = build_reference(frame, None, **kw)
    from_pandas = build_reference(frame.to_pandas(), None, **kw)
    assert from_polars == from_pandas
    assert set(from_polars["features"]["b"]["counts"]) == {"True", "False", OTHER_CATEGORY}
    assert set(from_polars["features"]["f"]["counts"]) == {"0.5", "1.0", "2.5", OTHER_CATEGORY}
    assert set(from_polars["features"]["j"]["counts"]) == {"-2", "-1", "0", "1", OTHER_CATEGORY}


def test_large_columns_take_edges_from_a_sample_and_count_every_row() -> None:
    import polars as pl

    n = 450_000
    x = np.random.default_rng(5).lognormal(size=n)
    ref = build_reference(pl.DataFrame({"x": x}), None, numeric=["x"], categorical=[], seed=1)
    feat = ref["features"]["x"]
    assert sum(feat["fine_counts"]) == n == sum(feat["bin_counts"])
    assert feat["min"] == x.min() and feat["fine_edges"][0] == x.min()
    assert feat["bin_edges"][-1] == x.max()
    shares = np.array(feat["fine_counts"]) / n
    assert shares.max() < 0.02  # quantile cells from the sample still split the data evenly
    again = build_reference(pl.DataFrame({"x": x}), None, numeric=["x"], categorical=[], seed=1)
    assert again == ref
