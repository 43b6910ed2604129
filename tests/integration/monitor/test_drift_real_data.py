"""Drift statistics on real data: injected shifts are found, unchanged data stays quiet,
and the rainfall series (rows in time order) drifts between consecutive windows."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conveyor.monitor import drift_between_frames

SPLITS = 40  # random splits per dataset and regime for the false-alarm rate
MAX_ALARM_RATE = 0.05


def _churn(datasets: Path) -> pl.DataFrame:
    return pl.read_csv(datasets / "telco_churn" / "wa_churn.csv", infer_schema_length=10_000)


def _credit(datasets: Path) -> pl.DataFrame:
    return pl.read_csv(
        datasets / "credit" / "modeldata_credit_data.csv",
        infer_schema_length=10_000,
        null_values=["NA", ""],
    )


def _mean_shift(frame: pl.DataFrame, name: str, rng: np.random.Generator) -> pl.DataFrame:
    col = pl.col(name).cast(pl.Float64)
    return frame.with_columns(col + 0.5 * frame[name].cast(pl.Float64).std())


def _scale_change(frame: pl.DataFrame, name: str, rng: np.random.Generator) -> pl.DataFrame:
    col = pl.col(name).cast(pl.Float64)
    return frame.with_columns(col.median() + (col - col.median()) * 1.75)


def _mix_change(frame: pl.DataFrame, name: str, rng: np.random.Generator) -> pl.DataFrame:
    rarest = frame[name].drop_nulls().value_counts(sort=True)[name][-1]
    moved = pl.Series(rng.random(frame.height) < 0.3)
    return frame.with_columns(
        pl.when(moved).then(pl.lit(rarest)).otherwise(pl.col(name)).alias(name)
    )


def _missing_jump(frame: pl.DataFrame, name: str, rng: np.random.Generator) -> pl.DataFrame:
    holes = pl.Series(rng.random(frame.height) < 0.2)
    return frame.with_columns(pl.when(holes).then(None).otherwise(pl.col(name)).alias(name))


SHIFTS = {
    "churn": {
        "tenure": _mean_shift,
        "monthly_charges": _scale_change,
        "total_charges": _missing_jump,
        "contract": _mix_change,
        "payment_method": _missing_jump,
    },
    "credit": {
        "Amount": _mean_shift,
        "Price": _scale_change,
        "Seniority": _missing_jump,
        "Home": _mix_change,
        "Marital": _missing_jump,
    },
}


def _split(frame: pl.DataFrame, seed: int, current_rows: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    order = np.random.default_rng(seed).permutation(frame.height)
    return frame[order[: frame.height - current_rows]], frame[order[frame.height - current_rows :]]


@pytest.mark.parametrize("dataset", ["churn", "credit"])
@pytest.mark.parametrize("regime", ["small", "large"])
def test_every_injected_shift_is_detected(shared_datasets: Path, dataset: str, regime: str) -> None:
    frame = (_churn if dataset == "churn" else _credit)(shared_datasets)
    current_rows = 600 if regime == "small" else frame.height // 2
    for seed in range(3):
        reference, current = _split(frame, seed, current_rows)
        rng = np.random.default_rng(seed)
        for name, shift in SHIFTS[dataset].items():
            current = shift(current, name, rng)
        report = drift_between_frames(reference, current)
        expected = {"small": {"ks", "chi2"}, "large": {"wasserstein", "jensenshannon"}}[regime]
        assert {c.method for c in report.columns} == expected
        drifted = set(report.drifted_columns())
        assert set(SHIFTS[dataset]) <= drifted, (seed, sorted(set(SHIFTS[dataset]) - drifted))
        # the untouched columns stay quiet
        assert len(drifted - set(SHIFTS[dataset])) <= 1, sorted(drifted)
        assert report.share == len(drifted) / frame.width


@pytest.mark.parametrize("dataset", ["churn", "credit"])
@pytest.mark.parametrize("regime", ["small", "large"])
def test_false_alarm_rate_per_column_on_random_splits(
    shared_datasets: Path, dataset: str, regime: str
) -> None:
    frame = (_churn if dataset == "churn" else _credit)(shared_datasets)
    current_rows = 300 if regime == "small" else frame.height // 2
    alarms: dict[str, int] = {}
    for seed in range(SPLITS):
        report = drift_between_frames(*_split(frame, 1000 + seed, current_rows))
        for column in report.columns:
            alarms[column.column] = alarms.get(column.column, 0) + int(column.drifted)
    assert len(alarms) == frame.width
    worst = max(alarms, key=alarms.__getitem__)
    assert alarms[worst] / SPLITS <= MAX_ALARM_RATE, alarms
    assert sum(alarms.values()) / (SPLITS * len(alarms)) <= 0.02, alarms


def test_rainfall_drifts_between_consecutive_windows(shared_datasets: Path) -> None:
    frame = pl.read_csv(shared_datasets / "rainfall" / "rainfall_data.csv").drop("")
    width = 1826  # five years of days
    windows = [frame[i : i + width] for i in range(0, frame.height - width + 1, width)]
    assert len(windows) == 9
    consecutive = [drift_between_frames(a, b) for a, b in itertools.pairwise(windows)]
    assert all(r.drifted_columns() for r in consecutive)  # the weather moves every five years
    assert sum(r.dataset_drift for r in consecutive) >= 4
    first_last = drift_between_frames(windows[0], windows[-1])
    assert first_last.dataset_drift
    assert {"temperature", "sea-level pressure", "visibility"} <= set(first_last.drifted_columns())
    # the same ten years, shuffled into two halves: no drift at all
    span = pl.concat(windows[:2])
    order = np.random.default_rng(0).permutation(span.height)
    assert drift_between_frames(span[order[:width]], span[order[width:]]).drifted_columns() == []
