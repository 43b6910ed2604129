"""drift_from_reference / drift_between_frames: methods, thresholds, verdicts, bad input."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.bundle import build_reference
from conveyor.config._monitoring import ColumnDriftConfig, DriftConfig
from conveyor.errors import ConfigError, DataError
from conveyor.monitor import ColumnDrift, DriftReport, drift_between_frames, drift_from_reference


def _frame(n: int, seed: int, *, shift: float = 0.0, missing: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < missing] = np.nan
    return pl.DataFrame(
        {
            "x": x,
            "count": rng.poisson(3.0, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
            "flag": rng.random(n) < 0.2,
        }
    )


def _by_name(report: DriftReport) -> dict[str, ColumnDrift]:
    return {c.column: c for c in report.columns}


def test_unchanged_data_does_not_drift_small_and_large() -> None:
    ref = _frame(5000, 0)
    for n, methods in ((400, {"ks", "chi2"}), (5000, {"wasserstein", "jensenshannon"})):
        report = drift_between_frames(ref, _frame(n, 1))
        assert {c.method for c in report.columns} == methods
        assert report.drifted_columns() == [] and not report.dataset_drift
        assert report.share == 0.0 and report.n_current == n


def test_identical_frames_have_zero_statistics() -> None:
    frame = _frame(1500, 3)
    for c in drift_between_frames(frame, frame).columns:
        assert c.statistic == pytest.approx(0.0, abs=1e-12), c.column
        assert not c.drifted


def test_mean_shift_and_missing_jump_are_found_in_both_regimes() -> None:
    ref = _frame(5000, 0)
    for n in (400, 5000):
        shifted = _by_name(drift_between_frames(ref, _frame(n, 2, shift=0.6)))
        assert shifted["x"].drifted and not shifted["x"].missing_drifted
        holes = _by_name(drift_between_frames(ref, _frame(n, 2, missing=0.25)))
        assert holes["x"].drifted and holes["x"].missing_drifted
        assert holes["x"].missing_rate_current == pytest.approx(0.25, abs=0.05)
        assert not holes["plan"].drifted


def test_category_mix_change_and_missing_category() -> None:
    ref = _frame(4000, 0)
    cur = _frame(3000, 5).with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(pl.lit("pro")).otherwise("plan").alias("plan")
    )
    plan = _by_name(drift_between_frames(ref, cur))["plan"]
    assert plan.drifted and plan.method == "jensenshannon"
    assert plan.reference_hist["categories"][-1] == "__other__"
    nulls = _frame(3000, 5).with_columns(
        pl.when(pl.int_range(pl.len()) % 4 == 0).then(None).otherwise("plan").alias("plan")
    )
    plan = _by_name(drift_between_frames(ref, nulls))["plan"]
    assert plan.drifted and plan.current_hist["missing"] == 750


def test_new_categories_are_counted_as_other_and_named() -> None:
    ref = _frame(4000, 0)
    cur = _frame(2000, 1).with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(pl.lit("enterprise"))
        .otherwise("plan")
        .alias("plan")
    )
    plan = _by_name(drift_between_frames(ref, cur))["plan"]
    assert plan.drifted
    assert plan.current_hist["__other__"] == {"enterprise": 1000}
    assert plan.current_hist["counts"][-1] == 1000


def test_dataset_drift_needs_the_share_to_exceed_the_threshold() -> None:
    ref = _frame(3000, 0)
    cur = _frame(3000, 1, shift=1.0)  # one of four columns drifts: share 0.25
    assert not drift_between_frames(ref, cur).dataset_drift
    report = drift_between_frames(ref, cur, DriftConfig(share_threshold=0.2))
    assert report.dataset_drift and report.share == 0.25 and report.share_threshold == 0.2


def test_column_overrides_method_threshold_and_skip() -> None:
    ref, cur = _frame(3000, 0), _frame(3000, 1, shift=0.15)
    config = DriftConfig(
        columns={
            "x": ColumnDriftConfig(method="psi", threshold=0.01),
            "plan": ColumnDriftConfig(method="chi2"),
            "count": ColumnDriftConfig(skip=True),
        }
    )
    report = drift_between_frames(ref, cur, config)
    cols = _by_name(report)
    assert cols["x"].method == "psi" and cols["x"].threshold == 0.01 and cols["x"].drifted
    assert cols["plan"].method == "chi2" and cols["plan"].p_value is not None
    assert "count" not in cols and "skip" in report.skipped["count"]
    with pytest.raises(ConfigError, match=r"monitor\.drift\.columns\.plan\.method: 'ks'"):
        drift_between_frames(
            ref, cur, DriftConfig(columns={"plan": ColumnDriftConfig(method="ks")})
        )


def test_small_samples_use_a_bonferroni_alpha() -> None:
    report = drift_between_frames(_frame(3000, 0), _frame(300, 1), DriftConfig(alpha=0.04))
    cols = _by_name(report)
    assert cols["plan"].threshold == pytest.approx(0.04 / 4)  # one test per categorical column
    assert cols["x"].threshold == pytest.approx(0.04 / 4 / 2)  # shared with the missing-rate test


def test_distance_thresholds_rise_for_small_references() -> None:
    tiny = drift_between_frames(_frame(60, 0), _frame(1200, 1))
    x = _by_name(tiny)["x"]
    assert x.method == "wasserstein" and x.threshold > 0.1  # the config value is only a floor
    assert not x.drifted


def test_prediction_drift_classes_and_values() -> None:
    rng = np.random.default_rng(0)
    train = _frame(3000, 0).to_pandas()
    labels = np.where(rng.random(3000) < 0.3, "Yes", "No")
    ref = build_reference(train, labels, numeric=["x"], categorical=["plan"], seed=1, task="binary")
    cur = _frame(2000, 1).with_columns(
        prediction=pl.Series(np.where(rng.random(2000) < 0.6, "Yes", "No"))
    )
    report = drift_from_reference(ref, cur, prediction_column="prediction")
    assert report.prediction is not None and report.prediction.drifted
    assert [c.column for c in report.columns] == ["x", "plan"]  # the prediction is not a feature
    values = build_reference(train, rng.normal(size=3000), numeric=["x"], categorical=[], seed=1,
                             task="regression")  # fmt: skip
    same = _frame(2000, 1).with_columns(prediction=pl.Series(rng.normal(size=2000)))
    pred = drift_from_reference(values, same, prediction_column="prediction").prediction
    assert pred is not None and pred.kind == "numeric" and not pred.drifted
    assert drift_from_reference(values, same).prediction is None


def test_report_is_json_serialisable() -> None:
    report = drift_between_frames(_frame(500, 0), _frame(500, 1, missing=1.0))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    x = next(c for c in data["columns"] if c["column"] == "x")
    assert x["statistic"] is None  # nothing left to compare: no number
    assert x["drifted"] and x["missing_drifted"]
    assert data["drifted_columns"] == report.drifted_columns()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(50, 1500))
def test_verdicts_do_not_depend_on_current_row_order(seed: int, n: int) -> None:
    ref = _frame(1000, seed)
    cur = _frame(n, seed + 1, shift=0.3, missing=0.05)
    shuffled = cur.sample(fraction=1.0, shuffle=True, seed=seed)
    a, b = drift_between_frames(ref, cur), drift_between_frames(ref, shuffled)
    for x, y in zip(a.columns, b.columns, strict=True):
        assert (x.column, x.drifted) == (y.column, y.drifted)
        assert x.statistic == pytest.approx(y.statistic, rel=1e-9, abs=1e-12)
    # the reference sample keeps every row below 2000 rows: its order does not matter either
    c = drift_between_frames(ref.reverse(), cur)
    assert [x.statistic for x in c.columns] == pytest.approx([x.statistic for x in a.columns])


def test_bad_input_is_named() -> None:
    ref = _frame(200, 0)
    with pytest.raises(DataError, match="current data has no rows"):
        drift_between_frames(ref, ref.head(0))
    with pytest.raises(DataError, match="share no column"):
        drift_between_frames(ref, pl.DataFrame({"other": [1, 2]}))
    with pytest.raises(DataError, match=r"'nope'.* not in the reference data"):
        drift_between_frames(ref, ref, columns=["x", "nope"])
    text = ref.with_columns(pl.col("x").cast(pl.String).fill_null("n/a"))
    text = text.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("abc")).otherwise("x").alias("x")
    )
    reference = build_reference(ref, None, numeric=["x"], categorical=[], seed=0)
    with pytest.raises(DataError, match=r"column 'x' is numeric .* 'abc' \(row 8"):
        drift_from_reference(reference, text)
    with pytest.raises(DataError, match="none of the reference's columns"):
        drift_from_reference(reference, pl.DataFrame({"y": [1.0]}))


def test_unsupported_types_are_skipped_or_refused() -> None:
    ref = _frame(300, 0).with_columns(
        when=pl.datetime(2026, 1, 1) + pl.duration(days=pl.int_range(pl.len()))
    )
    report = drift_between_frames(ref, ref)
    assert "when" in report.skipped and "not compared" in report.skipped["when"]
    with pytest.raises(DataError, match="column 'when' has type Datetime"):
        drift_between_frames(ref, ref, columns=["when"])


def test_numbers_as_text_are_read_as_numbers() -> None:
    ref = _frame(500, 0)
    reference = build_reference(ref, None, numeric=["x"], categorical=[], seed=0)
    as_text = ref.select(pl.col("x").cast(pl.String))
    assert not drift_from_reference(reference, as_text).columns[0].drifted
