"""Drift of one column: current values against the column's reference statistics."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from conveyor.bundle._reference import OTHER_CATEGORY, category_counts, coarse_from_fine
from conveyor.config._monitoring import DriftConfig
from conveyor.errors import DataError
from conveyor.monitor import _drift_stats as st
from conveyor.monitor._drift_reference import CategoricalReference, NumericReference
from conveyor.monitor._drift_result import ColumnDrift

NUMERIC_METHODS = ("ks", "wasserstein", "psi")
CATEGORICAL_METHODS = ("chi2", "jensenshannon")
_OTHER_SHOWN = 10  # current categories counted under __other__ that a plot names


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is judged: the method, an explicit threshold or the column's alpha."""

    method: str
    threshold: float | None  # set per column in the config: used as is
    alpha: float  # this column's share of the family-wise alpha
    large: bool  # the current sample is large: distances and the missing-rate threshold
    config: DriftConfig


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([20261129, zlib.crc32(name.encode())])


def numeric_values(name: str, series: pl.Series) -> np.ndarray:
    """The column as float64, missing values as NaN.

    Raises:
        DataError: the column holds text that is not a number, or a type that
            cannot be read as numbers (the message names the column, row and value).
    """
    dtype = series.dtype
    if dtype.is_numeric() or dtype in (pl.Boolean, pl.Null):
        return series.cast(pl.Float64).to_numpy()
    if dtype == pl.String:
        text = series.str.strip_chars()
        parsed = text.cast(pl.Float64, strict=False)
        bad = (text.is_not_null() & (text != "") & parsed.is_null()).arg_true()
        if len(bad):
            row = int(bad[0])
            raise DataError(
                f"column {name!r} is numeric in the reference, but the current data holds "
                f"{series[row]!r} (row {row + 1}; {len(bad)} value(s) are not numbers)",
                hint="fix the values, or compare the column as categorical",
            )
        return parsed.to_numpy()
    raise DataError(
        f"column {name!r} is numeric in the reference, but its current type is {dtype}",
        hint="cast the column to a number before checking drift",
    )


def _scale(ref: NumericReference) -> float:
    """What a Wasserstein distance is divided by: the reference std.

    A constant reference has std 0; then the distance is measured against a
    thousandth of the constant's size (at least 1e-3), so any visible change
    of a constant column counts as drift.
    """
    if ref.std > 0:
        return ref.std
    value = abs(float(ref.fine_edges[0])) if len(ref.fine_edges) else 0.0
    return 1e-3 * max(value, 1.0)


def numeric_drift(
    name: str, ref: NumericReference, series: pl.Series, plan: ColumnPlan
) -> ColumnDrift:
    """Drift of a numeric column: distribution (KS, Wasserstein or PSI) and missing rate."""
    raw = numeric_values(name, series)
    finite = np.isfinite(raw)
    x = raw if finite.all() else raw[finite]
    return numeric_verdict(
        name,
        ref,
        plan,
        st.bin_values(x, ref.fine_edges),
        n_rows=len(raw),
        n_finite=len(x),
        ks=lambda: st.ks_test(ref.sample, x),
    )


def numeric_verdict(
    name: str,
    ref: NumericReference,
    plan: ColumnPlan,
    binned: st.BinnedValues,
    *,
    n_rows: int,
    n_finite: int,
    ks: Callable[[], tuple[float, float]],
) -> ColumnDrift:
    """The verdict of a numeric column from its counts in the reference's fine cells.

    ``binned`` counts the ``n_finite`` finite values of ``n_rows`` rows (the
    rest are missing); ``ks`` gives the KS statistic and p-value of the current
    values, and is called only when the method is KS. The local check counts a
    column here, the partitioned one sums the counts of its parts.
    """
    n_missing = n_rows - n_finite
    cfg, half = plan.config, plan.alpha / 2.0  # the column's alpha, split with the missing test
    if len(ref.bin_edges):
        current_bins = coarse_from_fine(ref.fine_edges, binned.counts, ref.bin_edges)
    else:
        current_bins = np.array([n_finite])
    comparable = n_finite > 0 and ref.count > 0
    p_value: float | None = None
    if plan.method == "ks":
        statistic, p = ks()
        threshold = plan.threshold if plan.threshold is not None else half
        p_value, drifted = p, comparable and p < threshold
    elif plan.method == "psi":
        statistic = st.psi(ref.bin_counts, current_bins) if comparable else math.nan
        threshold = plan.threshold
        if threshold is None:
            threshold = _distance_threshold(
                statistic, cfg.psi_threshold, comparable,
                lambda exact: st.psi_critical(ref.bin_counts, current_bins, half, _rng(name), exact=exact),
            )  # fmt: skip
        drifted = comparable and statistic > threshold
    else:
        scale = _scale(ref)
        statistic = (
            st.wasserstein(ref.fine_edges, ref.fine_counts, binned) / scale
            if comparable
            else math.nan
        )
        threshold = plan.threshold
        if threshold is None:
            threshold = _distance_threshold(
                statistic, cfg.wasserstein_threshold, comparable,
                lambda exact: st.wasserstein_critical(
                    ref.fine_edges, ref.fine_counts, binned, half, _rng(name), exact=exact
                ) / scale,
                simulate_from=cfg.wasserstein_threshold / 2,
            )  # fmt: skip
        drifted = comparable and statistic > threshold
    ref_rows = ref.count + ref.missing
    missing_drifted = _missing_drifted(ref.missing, ref_rows, n_missing, n_rows, half, plan)
    return ColumnDrift(
        column=name,
        kind="numeric",
        method=plan.method,
        statistic=float(statistic),
        threshold=float(threshold),
        p_value=p_value,
        drifted=bool(drifted or missing_drifted),
        n_reference=ref_rows,
        n_current=n_rows,
        missing_rate_reference=ref.missing / ref_rows if ref_rows else 0.0,
        missing_rate_current=n_missing / n_rows if n_rows else 0.0,
        reference_hist={
            "edges": ref.bin_edges.tolist(),
            "counts": ref.bin_counts.astype(np.int64).tolist(),
            "missing": ref.missing,
        },
        current_hist={
            "edges": ref.bin_edges.tolist(),
            "counts": np.asarray(current_bins, dtype=np.int64).tolist(),
            "missing": n_missing,
        },
        missing_drifted=bool(missing_drifted),
    )


def _distance_threshold(
    statistic: float,
    configured: float,
    comparable: bool,
    critical: Callable[[bool], float],
    *,
    simulate_from: float = 0.0,
) -> float:
    """The configured distance, raised to what unchanged samples of these sizes reach.

    The approximate null value comes first; the simulated one only when the
    statistic passes the threshold so far (the verdict can only change then)
    and the approximation is not negligible (at least ``simulate_from``).
    """
    if not comparable:
        return configured
    floor = critical(False)
    threshold = max(configured, floor)
    if statistic > threshold and floor >= simulate_from:
        threshold = max(configured, critical(True))
    return threshold


def _missing_drifted(
    ref_missing: int, ref_rows: int, cur_missing: int, cur_rows: int, alpha: float, plan: ColumnPlan
) -> bool:
    if ref_rows == 0 or cur_rows == 0:
        return False
    if not plan.large:
        return st.missing_test(ref_missing, ref_rows, cur_missing, cur_rows) < alpha
    change = abs(cur_missing / cur_rows - ref_missing / ref_rows)
    floor = st.missing_critical(ref_missing, ref_rows, cur_missing, cur_rows, alpha)
    return change > max(plan.config.missing_rate_threshold, floor)


def categorical_drift(
    name: str, ref: CategoricalReference, series: pl.Series, plan: ColumnPlan
) -> ColumnDrift:
    """Drift of a categorical column (missing values are a category of their own)."""
    keys, counts, n_missing = category_counts(series)
    return categorical_verdict(name, ref, plan, keys, counts, n_missing)


def categorical_verdict(
    name: str,
    ref: CategoricalReference,
    plan: ColumnPlan,
    keys: pl.Series | list[str],
    counts: np.ndarray,
    n_missing: int,
) -> ColumnDrift:
    """The verdict of a categorical column from the count of each current value.

    ``keys`` (:func:`~conveyor.bundle._reference.category_key`) and ``counts``
    come most frequent first: the first values the reference does not keep are
    the ones the plot names under ``__other__``. The local check counts a
    column here, the partitioned one sums the counts of its parts.
    """
    kept = ref.categories[:-1]
    other = len(kept)
    current_keys = pl.DataFrame(
        {"key": keys, "n": counts}, schema={"key": pl.String, "n": pl.Int64}
    )
    reference_slots = pl.DataFrame(
        {"key": kept, "slot": np.arange(other, dtype=np.int64)},
        schema={"key": pl.String, "slot": pl.Int64},
    )
    table = current_keys.join(reference_slots, on="key", how="left", maintain_order="left")
    slots = table["slot"].fill_null(other).to_numpy()
    current = np.bincount(slots, weights=table["n"].to_numpy(), minlength=other + 1)
    ref_cells = np.append(ref.counts, ref.missing)
    cur_cells = np.append(current, n_missing)
    n_rows = int(cur_cells.sum())
    comparable = n_rows > 0 and ref_cells.sum() > 0
    p_value: float | None = None
    if plan.method == "chi2":
        statistic, p_value = st.chi2_test(ref_cells, cur_cells)
        threshold = plan.threshold if plan.threshold is not None else plan.alpha
        drifted = comparable and p_value < threshold
    else:
        statistic = st.jensenshannon(ref_cells, cur_cells) if comparable else math.nan
        threshold = plan.threshold
        if threshold is None:
            threshold = _distance_threshold(
                statistic, plan.config.jensenshannon_threshold, comparable,
                lambda exact: st.jensenshannon_critical(ref_cells, cur_cells, plan.alpha, _rng(name), exact=exact),
            )  # fmt: skip
        drifted = comparable and statistic > threshold
    unseen = table.filter(pl.col("slot").is_null()).head(_OTHER_SHOWN)
    ref_rows = int(ref_cells.sum())
    return ColumnDrift(
        column=name,
        kind="categorical",
        method=plan.method,
        statistic=float(statistic),
        threshold=float(threshold),
        p_value=p_value,
        drifted=bool(drifted),
        n_reference=ref_rows,
        n_current=n_rows,
        missing_rate_reference=ref.missing / ref_rows if ref_rows else 0.0,
        missing_rate_current=n_missing / n_rows if n_rows else 0.0,
        reference_hist={
            "categories": list(ref.categories),
            "counts": ref.counts.astype(np.int64).tolist(),
            "missing": ref.missing,
        },
        current_hist={
            "categories": list(ref.categories),
            "counts": current.astype(np.int64).tolist(),
            "missing": n_missing,
            OTHER_CATEGORY: dict(zip(unseen["key"].to_list(), unseen["n"].to_list(), strict=True)),
        },
    )
