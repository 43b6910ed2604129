"""Drift over partitioned Parquet on a real Dask cluster equals the local check of all rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from conveyor.bundle._reference import build_reference
from conveyor.config._monitoring import DriftConfig
from conveyor.errors import DataError
from conveyor.monitor._drift_dask import drift_from_parts
from conveyor.monitor.drift import drift_from_reference

NUMERIC = ["tenure", "monthly_charges", "total_charges"]
CATEGORICAL = ["contract", "payment_method", "internet_service"]


@pytest.fixture(scope="module")
def churn(churn_csv: Path) -> pl.DataFrame:
    return pl.read_csv(churn_csv, infer_schema_length=10_000).select(NUMERIC + CATEGORICAL)


@pytest.fixture(scope="module")
def reference(churn: pl.DataFrame) -> dict[str, Any]:
    return build_reference(churn.head(3000), None, numeric=NUMERIC, categorical=CATEGORICAL, seed=0)


def _shifted(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Tenure shifted, a contract mix change, holes in total_charges, an unseen category."""
    rng = np.random.default_rng(seed)
    holes = pl.Series(rng.random(frame.height) < 0.15)
    unseen = pl.Series(rng.random(frame.height) < 0.05)
    return frame.with_columns(
        pl.col("tenure") + 12,
        pl.when(holes).then(None).otherwise(pl.col("total_charges")).alias("total_charges"),
        pl.when(unseen)
        .then(pl.lit("Crypto"))
        .otherwise(pl.col("payment_method"))
        .alias("payment_method"),
    )


def _write_parts(frame: pl.DataFrame, root: Path, n: int) -> list[Path]:
    root.mkdir(parents=True)
    paths = []
    for i, part in enumerate(frame.iter_slices(n_rows=-(-frame.height // n))):
        path = root / f"hour={i:02d}" / "part-0.parquet"
        path.parent.mkdir()
        part.write_parquet(path)
        paths.append(path)
    return paths


def _assert_same(got: Any, want: Any) -> None:
    assert got.n_current == want.n_current
    assert got.dataset_drift == want.dataset_drift
    assert got.share == pytest.approx(want.share)
    assert got.skipped == want.skipped
    pairs = list(zip(got.columns, want.columns, strict=True))
    if want.prediction is not None:
        pairs.append((got.prediction, want.prediction))
    for g, w in pairs:
        assert (g.column, g.method, g.drifted, g.missing_drifted) == (
            w.column,
            w.method,
            w.drifted,
            w.missing_drifted,
        )
        assert g.statistic == pytest.approx(w.statistic, rel=1e-9, abs=1e-12), g.column
        assert g.threshold == pytest.approx(w.threshold, rel=1e-9, abs=1e-12), g.column
        if w.p_value is not None:
            assert g.p_value == pytest.approx(w.p_value, rel=1e-9, abs=1e-15), g.column
        assert g.current_hist["counts"] == w.current_hist["counts"]
        assert g.current_hist["missing"] == w.current_hist["missing"]
        assert (g.n_current, g.missing_rate_current) == (w.n_current, w.missing_rate_current)


@pytest.mark.parametrize(
    ("rows", "config"),
    [
        (4000, DriftConfig()),  # large sample: Wasserstein and Jensen-Shannon
        (600, DriftConfig()),  # small sample: KS (exact p-value) and chi-square
        (4000, DriftConfig(numeric_method="psi")),
        (12_000, DriftConfig(numeric_method="ks", large_sample=100_000)),  # KS, asymptotic p
    ],
    ids=["distances", "tests", "psi", "ks-asymptotic"],
)
def test_partitioned_drift_matches_local(
    two_workers: Any,
    churn: pl.DataFrame,
    reference: dict[str, Any],
    tmp_path: Path,
    rows: int,
    config: DriftConfig,
) -> None:
    rows_in = (
        churn.tail(rows) if rows <= 4000 else churn.sample(rows, with_replacement=True, seed=1)
    )
    current = _shifted(rows_in, seed=rows)
    paths = _write_parts(current, tmp_path / "log", 4)
    local = drift_from_reference(reference, current, config)
    on_dask = drift_from_parts(reference, tmp_path / "log", config, client=two_workers)
    here = drift_from_parts(reference, [str(p) for p in paths], config)
    # Some columns drift and some do not, so a wrong verdict either way shows.
    assert 0 < len(local.drifted_columns()) < len(NUMERIC + CATEGORICAL)
    _assert_same(on_dask, local)
    _assert_same(here, local)


def test_a_column_missing_from_some_parts_counts_as_missing(
    two_workers: Any, churn: pl.DataFrame, reference: dict[str, Any], tmp_path: Path
) -> None:
    current = churn.tail(2000)
    (tmp_path / "log").mkdir()
    current.head(1500).write_parquet(tmp_path / "log" / "a.parquet")
    current.tail(500).drop("contract", "tenure").write_parquet(tmp_path / "log" / "b.parquet")
    local = drift_from_reference(
        reference,
        pl.concat([current.head(1500), current.tail(500).drop("contract", "tenure")],
                  how="diagonal_relaxed"),
    )  # fmt: skip
    _assert_same(drift_from_parts(reference, str(tmp_path / "log" / "*.parquet"),
                                  client=two_workers), local)  # fmt: skip
    assert {"contract", "tenure"} <= set(local.drifted_columns())


def test_text_in_a_numeric_column_names_the_part(
    two_workers: Any, churn: pl.DataFrame, reference: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "log").mkdir()
    churn.head(100).write_parquet(tmp_path / "log" / "a.parquet")
    bad = churn.slice(100, 100).with_columns(pl.lit("n/a").alias("tenure"))
    bad.write_parquet(tmp_path / "log" / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet.*'tenure'.*'n/a'"):
        drift_from_parts(reference, tmp_path / "log", client=two_workers)


def test_no_part_or_no_shared_column(
    churn: pl.DataFrame, reference: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="no Parquet part"):
        drift_from_parts(reference, str(tmp_path / "nothing" / "*.parquet"))
    pl.DataFrame({"other": [1, 2]}).write_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="none of the reference's columns"):
        drift_from_parts(reference, [tmp_path / "x.parquet"])


def test_unseen_categories_with_tied_counts_are_named_alike(
    two_workers: Any, churn: pl.DataFrame, reference: dict[str, Any], tmp_path: Path
) -> None:
    """More unseen values than the report names, all tied: both paths pick the same ones.

    The first part holds only the second half of the keys, so the order the parts meet
    the keys is not their sorted order.
    """
    first = [12 + i % 12 for i in range(600)]
    rest = [i % 12 for i in range(1200)] + [12 + i % 12 for i in range(600)]
    values = pl.Series([f"new-{k:02d}" for k in first + rest])
    current = churn.tail(2400).with_columns(values.alias("payment_method"))
    _write_parts(current, tmp_path / "log", 4)
    local = drift_from_reference(reference, current)
    on_dask = drift_from_parts(reference, tmp_path / "log", client=two_workers)
    _assert_same(on_dask, local)
    name = "payment_method"
    [want] = [c for c in local.columns if c.column == name]
    [got] = [c for c in on_dask.columns if c.column == name]
    named = want.current_hist["__other__"]
    assert len(named) == 10 and len(set(named.values())) == 1  # a cut through a tie
    assert got.current_hist["__other__"] == named
