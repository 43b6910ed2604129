"""Per-column data drift and prediction drift against reference statistics.

The method is chosen per column by type and sample size (``method: auto``):

* fewer than ``large_sample`` current rows: a test, KS for numeric columns and
  chi-square for categorical ones, at level ``alpha`` divided by the number of
  columns tested (Bonferroni), so an unchanged dataset raises no alarm in
  ``1 - alpha`` of checks;
* from ``large_sample`` rows: a distance, Wasserstein divided by the reference
  std for numeric columns (or PSI over the reference quantile bins) and
  Jensen-Shannon (base 2) for categorical ones, against the configured
  threshold, raised to the distance that unchanged samples of these sizes would
  still reach at the same Bonferroni level (small references are noisy).

Numeric columns are also checked for a jump of their missing rate (Fisher's
exact test on small samples, ``missing_rate_threshold`` on large ones);
categorical columns count missing values as a category. A method and threshold
set for a column in ``monitor.drift.columns`` are used as given.

Example:
    >>> import json, polars as pl
    >>> from conveyor.monitor import drift_from_reference
    >>> reference = json.loads(Path("bundle/reference.json").read_text())  # doctest: +SKIP
    >>> report = drift_from_reference(reference, pl.read_parquet("today.parquet"))  # doctest: +SKIP
    >>> report.dataset_drift, report.drifted_columns()  # doctest: +SKIP
    (False, ['tenure'])
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from conveyor.bundle._reference import build_reference, parallel_workers
from conveyor.config._monitoring import DriftConfig
from conveyor.errors import DataError
from conveyor.monitor._drift_check import plan_check, preview
from conveyor.monitor._drift_columns import ColumnPlan, categorical_drift, numeric_drift
from conveyor.monitor._drift_reference import ColumnReference, NumericReference, read_reference
from conveyor.monitor._drift_result import ColumnDrift, DriftReport

if TYPE_CHECKING:
    import polars as pl

__all__ = ["ColumnDrift", "DriftReport", "drift_between_frames", "drift_from_reference"]


def drift_from_reference(
    reference: dict[str, Any],
    current: pl.DataFrame,
    config: DriftConfig | None = None,
    *,
    prediction_column: str | None = None,
) -> DriftReport:
    """Drift of ``current`` against a model's reference statistics (``reference.json``).

    Args:
        reference: the parsed ``reference.json`` of a bundle (format 1 or 2).
        current: current inputs, one column per reference feature (extra columns
            are ignored; reference features absent here are listed in ``skipped``).
        config: thresholds and methods (``monitor.drift``); defaults when None.
        prediction_column: a column of ``current`` holding the model's outputs,
            compared with the reference prediction mix when present.

    Returns:
        The per-column verdicts, the drifted share and the dataset verdict.

    Raises:
        ModelError: ``reference`` is not reference statistics this Conveyor reads
            (its format_version is named, with what is supported).
        DataError: ``current`` has no rows, none of the reference's columns, or a
            numeric column holding text.
        ConfigError: a column's method does not fit its kind.

    Example:
        >>> report = drift_from_reference(reference, frame, prediction_column="prediction")  # doctest: +SKIP
        >>> report.prediction.drifted  # doctest: +SKIP
        False
    """
    import polars as pl

    parsed = read_reference(reference)
    config = config or DriftConfig()
    if not isinstance(current, pl.DataFrame):
        current = pl.from_pandas(current)
    if current.height == 0:
        raise DataError("the current data has no rows: there is nothing to compare")
    check = plan_check(parsed, config, current.columns, current.height, prediction_column)
    jobs: list[Callable[[], ColumnDrift]] = [
        _job(name, ref, current.get_column(name), plan) for name, ref, plan in check.columns
    ]
    workers = parallel_workers(current.height * len(jobs), len(jobs))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:  # numpy, scipy and Polars release the GIL
            results = list(pool.map(lambda job: job(), jobs))
    else:
        results = [job() for job in jobs]
    return check.report(results)


def _job(
    name: str, ref: ColumnReference, series: pl.Series, plan: ColumnPlan
) -> Callable[[], ColumnDrift]:
    if isinstance(ref, NumericReference):
        return lambda: numeric_drift(name, ref, series, plan)
    return lambda: categorical_drift(name, ref, series, plan)


def drift_between_frames(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    config: DriftConfig | None = None,
    *,
    columns: list[str] | None = None,
) -> DriftReport:
    """Drift of ``current`` against another dataset, with the same statistics as for a model.

    The reference statistics are built from ``reference`` exactly as a bundle's
    ``reference.json`` is (numeric and boolean/text/categorical columns;
    dates and nested types are skipped), then :func:`drift_from_reference` runs.

    Args:
        reference: the baseline data.
        current: the data to check.
        config: thresholds and methods; defaults when None.
        columns: compare only these columns (default: every column both share).

    Raises:
        DataError: a frame has no rows, the frames share no column, or a named
            column is missing or of a type drift does not cover.

    Example:
        >>> report = drift_between_frames(pl.read_csv("jan.csv"), pl.read_csv("feb.csv"))  # doctest: +SKIP
        >>> [c.column for c in report.columns if c.drifted]  # doctest: +SKIP
        ['price']
    """
    import polars as pl

    if not isinstance(reference, pl.DataFrame):
        reference = pl.from_pandas(reference)
    if not isinstance(current, pl.DataFrame):
        current = pl.from_pandas(current)
    for label, frame in (("reference", reference), ("current", current)):
        if frame.height == 0:
            raise DataError(f"the {label} data has no rows: there is nothing to compare")
    if columns is not None:
        for label, frame in (("reference", reference), ("current", current)):
            absent = [c for c in columns if c not in frame.columns]
            if absent:
                raise DataError(
                    f"column(s) {preview(absent)} are not in the {label} data "
                    f"(it has: {preview(frame.columns)})"
                )
        names = list(dict.fromkeys(columns))
    else:
        names = [c for c in reference.columns if c in current.columns]
        if not names:
            raise DataError(
                "the two datasets share no column "
                f"(reference: {preview(reference.columns)}; current: {preview(current.columns)})",
                hint="compare datasets with the same column names",
            )
    numeric: list[str] = []
    categorical: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        kind = _kind(reference.schema[name], current.schema[name])
        if kind == "numeric":
            numeric.append(name)
        elif kind == "categorical":
            categorical.append(name)
        elif columns is not None:
            raise DataError(
                f"column {name!r} has type {reference.schema[name]}: drift compares numeric "
                "and categorical (text, boolean) columns"
            )
        else:
            skipped[name] = f"type {reference.schema[name]} is not compared"
    if not numeric and not categorical:
        raise DataError(
            f"no column to compare: {'; '.join(f'{k}: {v}' for k, v in skipped.items())}"
        )
    stats = build_reference(
        reference.select(numeric + categorical),
        None,
        numeric=numeric,
        categorical=categorical,
        seed=0,
    )
    report = drift_from_reference(stats, current.select(numeric + categorical), config)
    return DriftReport(
        columns=report.columns,
        share=report.share,
        dataset_drift=report.dataset_drift,
        share_threshold=report.share_threshold,
        prediction=None,
        n_current=report.n_current,
        skipped={**skipped, **report.skipped},
    )


def _kind(reference: Any, current: Any) -> str | None:
    import polars as pl

    dtype = current if reference == pl.Null else reference
    if dtype == pl.Boolean or dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    if dtype == pl.Null:
        return "categorical"
    return None
