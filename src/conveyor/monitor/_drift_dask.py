"""Drift over partitioned data (prediction log segments, Parquet parts), on Dask or here.

Each part is reduced, where it is read, to counts that add up across parts;
the client adds them and hands them to the verdict functions the local
:func:`~conveyor.monitor.drift.drift_from_reference` uses
(:mod:`~conveyor.monitor._drift_columns`). Nothing but counts
travels, so the check scales with the number of parts, not of rows.

What a part sends per column, and why the verdict is the local one:

- numeric: counts in the reference's fine cells plus the two tails, the tails'
  summed distance to the range, the smallest and largest value, and the
  missing count. PSI (coarse bins are sums of fine cells), the normalised
  Wasserstein distance and both null thresholds read nothing else, so they
  equal the local figures up to floating-point summation order;
- numeric with KS (small samples, or ``method: ks``): also, for each distinct
  value of the reference sample, how many current values are below it and
  how many at most equal to it. The two-sample KS statistic is a maximum
  over those points only, so it is exact; its p-value is scipy's, computed
  from a stand-in sample with the same counts (exact method, up to 10,000
  rows) or from the asymptotic formula scipy uses above that;
- categorical: the count of every value and of missing values.

A column absent from some parts counts as missing in those parts, as in the
frame ``pl.concat(parts, how="diagonal_relaxed")`` that a local check reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conveyor.config._monitoring import DriftConfig
from conveyor.errors import DataError
from conveyor.monitor import _drift_stats as st
from conveyor.monitor._drift_check import plan_check
from conveyor.monitor._drift_columns import (
    ColumnPlan,
    categorical_verdict,
    numeric_values,
    numeric_verdict,
)
from conveyor.monitor._drift_reference import ColumnReference, NumericReference, read_reference
from conveyor.monitor._drift_result import ColumnDrift, DriftReport

__all__ = ["drift_from_parts"]

_SCIPY_EXACT_MAX_N = 10_000  # scipy's ks_2samp switches from exact to asymptotic above this


@dataclass(frozen=True)
class _ColumnTask:
    name: str
    numeric: bool
    fine_edges: np.ndarray | None = None
    ks_points: np.ndarray | None = None  # sorted distinct reference sample values


def drift_from_parts(
    reference: dict[str, Any],
    parts: str | Sequence[str | Path],
    config: DriftConfig | None = None,
    *,
    prediction_column: str | None = None,
    client: Any = None,
) -> DriftReport:
    """Drift of the rows of several Parquet parts against reference statistics.

    Args:
        reference: the parsed ``reference.json`` of a bundle.
        parts: Parquet files, a directory of them or a glob.
        config: thresholds and methods (``monitor.drift``).
        prediction_column: the column holding the model's outputs, if any.
        client: a ``distributed.Client``: each part is reduced on a worker;
            None reduces them here.

    Returns:
        The report :func:`~conveyor.monitor.drift.drift_from_reference` gives
        for all the rows together (see the module's doc for how exact).

    Raises:
        DataError: no part, no rows, no reference column in the parts, or a
            numeric column holding text (the part is named).

    Example:
        >>> report = drift_from_parts(reference, "logs/v3/", client=executor.client)  # doctest: +SKIP
        >>> report.dataset_drift  # doctest: +SKIP
        False
    """
    import polars as pl

    paths = _paths(parts)
    parsed = read_reference(reference)
    config = config or DriftConfig()
    schemas = [pl.read_parquet_schema(p) for p in paths]
    present = {name for schema in schemas for name in schema}
    n_rows = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in paths)
    if n_rows == 0:
        raise DataError("the current data has no rows: there is nothing to compare")
    check = plan_check(parsed, config, sorted(present), n_rows, prediction_column)
    tasks = [_task(name, ref, plan) for name, ref, plan in check.columns]
    partials = _reduce_parts(client, [str(p) for p in paths], tasks)
    return check.report(
        [
            _verdict(name, ref, plan, [partial[i] for partial in partials])
            for i, (name, ref, plan) in enumerate(check.columns)
        ]
    )


def _paths(parts: str | Path | Sequence[str | Path]) -> list[Path]:
    """Parquet files of a list, a file, a directory (recursively) or a glob, sorted."""
    import glob

    if not isinstance(parts, str | Path):
        found = [Path(p) for p in parts]
    elif Path(parts).is_file():
        found = [Path(parts)]
    elif Path(parts).is_dir():
        root = Path(parts)
        found = sorted(
            p
            for p in root.rglob("*.parquet")
            if not any(s.startswith((".", "_")) for s in p.relative_to(root).parts)
        )
    else:
        found = sorted(Path(p) for p in glob.glob(str(parts), recursive=True) if Path(p).is_file())
    if not found:
        raise DataError(f"no Parquet part found in {parts}")
    return found


def _task(name: str, ref: ColumnReference, plan: ColumnPlan) -> _ColumnTask:
    if not isinstance(ref, NumericReference):
        return _ColumnTask(name, numeric=False)
    points = np.unique(ref.sample) if plan.method == "ks" else None
    return _ColumnTask(name, numeric=True, fine_edges=ref.fine_edges, ks_points=points)


def _reduce_parts(client: Any, paths: list[str], tasks: list[_ColumnTask]) -> list[list[dict]]:
    if client is None:
        return [_reduce_part(path, tasks) for path in paths]
    [shipped] = client.scatter([tasks], broadcast=True, hash=False)
    futures = client.map(_reduce_part, paths, tasks=shipped, pure=False)
    try:
        return client.gather(futures)
    finally:
        for future in futures:
            future.cancel()


def _reduce_part(path: str, tasks: list[_ColumnTask]) -> list[dict[str, Any]]:
    """On a worker: read the part's columns and reduce each to additive counts."""
    import polars as pl

    from conveyor.bundle._reference import category_counts

    names = set(pl.read_parquet_schema(path))
    frame = pl.read_parquet(path, columns=[t.name for t in tasks if t.name in names])
    out: list[dict[str, Any]] = []
    for task in tasks:
        if task.name not in names:
            out.append({"absent": frame.height})
            continue
        series = frame.get_column(task.name)
        if not task.numeric:
            keys, counts, missing = category_counts(series)
            out.append({"keys": keys.to_list(), "counts": counts.tolist(), "missing": missing})
            continue
        try:
            raw = numeric_values(task.name, series)
        except DataError as exc:
            raise DataError(f"{path}: {exc.message}", hint=exc.hint) from None
        x = raw[np.isfinite(raw)]
        assert task.fine_edges is not None
        binned = st.bin_values(x, task.fine_edges)
        part = {
            "rows": len(raw),
            "finite": len(x),
            "counts": binned.counts,
            "below_area": binned.below_area,
            "above_area": binned.above_area,
            "low": float(x.min()) if len(x) else math.nan,
            "high": float(x.max()) if len(x) else math.nan,
        }
        if task.ks_points is not None:
            ordered = np.sort(x)
            part["le"] = np.searchsorted(ordered, task.ks_points, side="right")
            part["lt"] = np.searchsorted(ordered, task.ks_points, side="left")
        out.append(part)
    return out


def _verdict(
    name: str, ref: ColumnReference, plan: ColumnPlan, partials: list[dict]
) -> ColumnDrift:
    if isinstance(ref, NumericReference):
        return _numeric(name, ref, plan, partials)
    return _categorical(name, ref, plan, partials)


def _numeric(
    name: str, ref: NumericReference, plan: ColumnPlan, partials: list[dict]
) -> ColumnDrift:
    """:func:`~conveyor.monitor._drift_columns.numeric_verdict` on the parts' summed counts."""
    present = [p for p in partials if "absent" not in p]
    n_rows = sum(p.get("absent", 0) for p in partials) + sum(p["rows"] for p in present)
    cells = len(ref.fine_edges) - 1
    counts = sum((p["counts"] for p in present), np.zeros(max(cells, 0) + 2, dtype=np.int64))
    lows = [p["low"] for p in present if p["counts"][0]]
    highs = [p["high"] for p in present if p["counts"][-1]]
    binned = st.BinnedValues(
        counts=np.asarray(counts, dtype=np.int64),
        below_area=float(sum(p["below_area"] for p in present)),
        above_area=float(sum(p["above_area"] for p in present)),
        low=min(lows) if lows else math.nan,
        high=max(highs) if highs else math.nan,
    )
    n_finite = sum(p["finite"] for p in present)
    return numeric_verdict(
        name,
        ref,
        plan,
        binned,
        n_rows=n_rows,
        n_finite=n_finite,
        ks=lambda: _ks(ref, present, n_finite),
    )


def _ks(ref: NumericReference, present: list[dict], n: int) -> tuple[float, float]:
    """scipy's two-sample KS on the reference sample and the (summed) current counts."""
    from scipy import stats

    m = len(ref.sample)
    if m == 0 or n == 0:
        return math.nan, 1.0
    points = np.unique(ref.sample)
    le = sum(p["le"] for p in present)
    lt = sum(p["lt"] for p in present)
    if max(m, n) <= _SCIPY_EXACT_MAX_N:
        return st.ks_test(ref.sample, _stand_in(points, le, lt, n))
    ref_le = np.searchsorted(np.sort(ref.sample), points, side="right") / m
    # Between two reference points the reference CDF is flat and the current one
    # rises, so the largest gap sits at a point or just below one.
    diffs = np.concatenate([ref_le - le / n, np.concatenate([[0.0], ref_le[:-1]]) - lt / n])
    d = float(max(np.max(diffs), np.clip(-np.min(diffs), 0, 1)))
    big, small = sorted([float(m), float(n)], reverse=True)
    p = float(np.clip(stats.kstwo.sf(d, np.round(big * small / (big + small))), 0, 1))
    return d, p


def _stand_in(points: np.ndarray, le: np.ndarray, lt: np.ndarray, n: int) -> np.ndarray:
    """Values with the same count below and at each reference point as the current data."""
    at = le - lt
    between = lt - np.concatenate([[0], le[:-1]])  # below points[0], then between neighbours
    above = n - int(le[-1])
    lower = np.concatenate([[points[0] - 1.0], points[:-1]])
    inside = np.nextafter(lower, points)  # strictly above the previous point, not above this one
    inside[0] = points[0] - 1.0
    values = [np.repeat(inside, between), np.repeat(points, at)]
    values.append(np.full(above, points[-1] + 1.0))
    return np.concatenate(values)


def _categorical(name: str, ref: Any, plan: ColumnPlan, partials: list[dict]) -> ColumnDrift:
    """:func:`~conveyor.monitor._drift_columns.categorical_verdict` on the parts' summed counts."""
    totals: dict[str, int] = {}
    n_missing = 0
    for part in partials:
        if "absent" in part:
            n_missing += part["absent"]
            continue
        n_missing += part["missing"]
        for key, count in zip(part["keys"], part["counts"], strict=True):
            totals[key] = totals.get(key, 0) + int(count)
    # most frequent first, ties by key: the order category_counts gives the local check, so
    # both name the same unseen categories under __other__
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    keys = [key for key, _ in ordered]
    counts = np.array([count for _, count in ordered], dtype=np.int64)
    return categorical_verdict(name, ref, plan, keys, counts, n_missing)
