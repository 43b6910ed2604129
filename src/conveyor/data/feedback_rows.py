"""Labelled feedback as training rows: logged inputs joined to their ground truth.

With ``data.include_feedback: true`` the ``collect`` step appends these rows
to the sources: each prediction the server logged (its inputs, exactly as
received) whose ``prediction_id`` has feedback becomes one row, with the
feedback's ``actual`` as the target. Shadow answers are skipped (their
request is already there once).

Example:
    >>> rows = labelled_feedback_rows(store, ".conveyor/predictions", model="churn")  # doctest: +SKIP
    >>> frame, report = append_feedback_rows(frame, rows, target="churn", id_column=None)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conveyor.stores.prediction_log import FIXED_COLUMNS, LogLocation

if TYPE_CHECKING:
    import polars as pl

    from conveyor.stores.metadata import MetadataStore

__all__ = ["ACTUAL", "FeedbackRowsReport", "append_feedback_rows", "labelled_feedback_rows"]

ACTUAL = "__actual__"
"""Column of :func:`labelled_feedback_rows` holding the ground truth."""


def labelled_feedback_rows(
    store: MetadataStore, log_root: str | os.PathLike[str] | LogLocation, *, model: str
) -> pl.DataFrame:
    """Every logged prediction of ``model`` that has feedback: its inputs and :data:`ACTUAL`.

    Args:
        store: the metadata store holding the feedback.
        log_root: the prediction log: a directory, a URL or a :class:`LogLocation`.
        model: the model name.

    Input columns carry the field names the server received (the log's
    ``input_<name>`` columns are renamed back). An empty frame when there is no
    feedback or no log.
    """
    import polars as pl

    from conveyor.stores.feedback import feedback_frame

    feedback = feedback_frame(store, model=model).select("prediction_id", "actual")
    location = LogLocation.of(log_root)
    files = location.glob(f"{model}/v*/*/*/part-*.parquet") if feedback.height else []
    if not files:
        return pl.DataFrame(schema={"prediction_id": pl.String, ACTUAL: pl.String})
    logged = pl.concat([location.scan(f) for f in files], how="diagonal_relaxed")
    rows = (
        logged.filter(pl.col("status") != "shadow")
        .join(feedback.lazy().rename({"actual": ACTUAL}), on="prediction_id", how="inner")
        .unique("prediction_id", keep="first")
        .sort("prediction_id")  # a stable order: the same feedback gives the same dataset digest
        .collect()
    )
    fixed = [c for c in FIXED_COLUMNS if c != "prediction_id" and c in rows.columns]
    rows = rows.drop(fixed)
    renames = {f"input_{c}": c for c in FIXED_COLUMNS if f"input_{c}" in rows.columns}
    return rows.rename(renames)


@dataclass(frozen=True)
class FeedbackRowsReport:
    """What :func:`append_feedback_rows` added, and what it had to leave empty."""

    added: int
    missing_columns: list[str] = field(default_factory=list)
    uncastable: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[str]:
        out = [f"include_feedback: {self.added:,} labelled prediction(s) added as rows"]
        if self.missing_columns:
            out.append(
                "include_feedback: not logged, left empty in those rows: "
                + ", ".join(self.missing_columns)
            )
        for column, count in self.uncastable.items():
            out.append(
                f"include_feedback: {count:,} value(s) of '{column}' do not fit the sources' "
                "type and were left empty"
            )
        return out


def append_feedback_rows(
    frame: pl.DataFrame, rows: pl.DataFrame, *, target: str, id_column: str | None
) -> tuple[pl.DataFrame, FeedbackRowsReport]:
    """``frame`` with ``rows`` appended in its columns and types.

    The target takes :data:`ACTUAL`; a text ``id_column`` that was not logged
    takes the prediction id; other columns the log lacks stay empty. Values
    that do not cast to the sources' type become null and are counted.
    """
    import polars as pl

    if rows.height == 0:
        return frame, FeedbackRowsReport(added=0)
    columns: list[pl.Series] = []
    missing: list[str] = []
    uncastable: dict[str, int] = {}
    for name, dtype in frame.schema.items():
        if name == target:
            source = rows[ACTUAL]
        elif name in rows.columns:
            source = rows[name]
        elif name == id_column and dtype == pl.String:
            source = rows["prediction_id"]
        else:
            missing.append(name)
            columns.append(pl.Series(name, [None] * rows.height, dtype=dtype))
            continue
        cast = _cast(source, dtype)
        lost = int((source.is_not_null() & cast.is_null()).sum())
        if lost:
            uncastable[name] = lost
        columns.append(cast.alias(name))
    extra = pl.DataFrame(columns)
    report = FeedbackRowsReport(added=extra.height, missing_columns=missing, uncastable=uncastable)
    return pl.concat([frame, extra], how="vertical"), report


def _cast(series: pl.Series, dtype: pl.DataType) -> pl.Series:
    import polars as pl

    if series.dtype == dtype:
        return series
    if dtype == pl.String and series.dtype == pl.Boolean:
        return series.cast(pl.String)
    try:
        return series.cast(dtype, strict=False)
    except pl.exceptions.PolarsError:  # e.g. text to a nested type: nothing fits
        return pl.Series(series.name, [None] * series.len(), dtype=dtype)
