"""One chunk of a batch job: validate, build the model's frame, predict, split off the rejects.

Everything here is column-wise: the typed Polars columns become the pandas
frame the pipeline was fitted on (the dtypes :meth:`RecordValidator.frame`
gives, without going through Python objects), and the pipeline runs once per
chunk (:func:`conveyor.pipeline.scoring.prediction_columns`, shared with
``conveyor predict``).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.pipeline.scoring import prediction_columns
from conveyor.serve._batch_checks import check_chunk

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from conveyor.bundle import InputField, LoadedBundle, RecordValidator, Signature

__all__ = ["model_frame", "process_chunk"]


def process_chunk(
    index: int,
    chunk: pl.DataFrame,
    bundle: LoadedBundle,
    validator: RecordValidator,
    chunk_rows: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate and score chunk ``index``: (scored rows, rejected rows).

    Args:
        index: the chunk's number; its first row is input row ``index * chunk_rows``.
        chunk: the chunk as read.
        bundle: the loaded bundle (``signature``, ``predict``, ``predict_proba``).
        validator: ``bundle.signature.validator()``, built once per job.
        chunk_rows: rows per chunk of the job.

    Returns:
        Scored rows: the input columns (model inputs typed as in the signature)
        plus ``prediction`` and, for classifiers, ``proba_<class>``. Rejected
        rows: the input columns as text plus ``__row`` (0-based input row) and
        ``__reason``.

    Example:
        >>> good, bad = process_chunk(0, chunk, bundle, bundle.signature.validator(), 100_000)  # doctest: +SKIP
    """
    import polars as pl

    sig = bundle.signature
    typed, reasons = check_chunk(chunk, sig, validator)
    bad_rows = sorted(reasons)
    first = index * chunk_rows
    rejected = pl.DataFrame(
        [_as_text(column) for column in chunk[bad_rows].iter_columns()]
    ).with_columns(
        pl.Series("__row", [first + i for i in bad_rows], dtype=pl.Int64),
        pl.Series("__reason", [reasons[i] for i in bad_rows], dtype=pl.String),
    )
    good = chunk
    if bad_rows:
        keep = np.ones(chunk.height, dtype=bool)
        keep[bad_rows] = False
        good, typed = chunk.filter(keep), typed.filter(keep)
    good = good.with_columns(typed)
    if good.height:
        predicted = prediction_columns(bundle, model_frame(typed, sig))
    else:  # every row rejected: an empty part with the same columns
        predicted = [pl.Series("prediction", [], dtype=pl.Null)]
        predicted += [pl.Series(f"proba_{c}", [], pl.Float64) for c in sig.classes or []]
    return good.with_columns(predicted), rejected


def _as_text(column: pl.Series) -> pl.Series:
    """A rejected column as text: scalars cast, lists and structs as JSON."""
    import polars as pl

    if not (column.dtype.is_nested() or column.dtype == pl.Object):
        return column.cast(pl.String)
    values = [None if v is None else json.dumps(v, default=str) for v in column.to_list()]
    return pl.Series(column.name, values, dtype=pl.String)


def model_frame(typed: pl.DataFrame, signature: Signature) -> pd.DataFrame:
    """The pipeline's input frame from typed columns: what :meth:`RecordValidator.frame` builds.

    Column order and dtypes follow the signature: numbers as float64, integers
    as their training dtype (float64 with NaN when a value is missing),
    datetimes in their training dtype, strings as their training dtype with
    NaN for missing values.

    Example:
        >>> X = model_frame(typed, bundle.signature)  # doctest: +SKIP
    """
    import pandas as pd

    data = {f.name: _pandas_column(f, typed.get_column(f.name)) for f in signature.inputs}
    return pd.DataFrame(data, index=pd.RangeIndex(typed.height))


def _pandas_column(f: InputField, column: pl.Series) -> Any:
    import polars as pl

    has_null = column.null_count() > 0
    if f.type == "number" or (f.type == "integer" and has_null):
        return column.cast(pl.Float64).to_numpy()
    if f.type == "integer":
        dtype = f.dtype if f.dtype.startswith(("int", "uint")) else "int64"
        return column.to_numpy().astype(dtype, copy=False)
    if f.type == "boolean":
        if has_null:
            return np.array([math.nan if v is None else v for v in column.to_list()], dtype=object)
        return column.to_numpy()
    if f.type == "datetime":
        series = column.to_pandas()
        try:
            return series.astype(f.dtype)
        except (TypeError, ValueError):
            return series
    # Strings: missing must be NaN (not None) for scikit-learn's imputers to see it.
    if f.dtype in ("str", "string"):
        return column.to_pandas().astype(f.dtype)
    values = column.to_numpy().astype(object)
    if has_null:
        values[column.is_null().to_numpy()] = math.nan
    return values
