"""Small column helpers shared by schema, validate, clean and split.

They pin down, once, what "missing" means (null, and NaN in float columns),
how a polars dtype maps onto the schema's type names, and how cell values
become JSON for reports and error examples.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import math
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

__all__ = [
    "column_list",
    "dtype_kind",
    "is_missing",
    "json_value",
    "nearest_name",
]


def dtype_kind(dtype: pl.DataType) -> str:
    """The schema's name for a polars dtype's family.

    Returns one of ``int``, ``float``, ``bool``, ``str`` (any text or
    categorical), ``date``, ``datetime``, ``null`` (a column with no values)
    or ``other`` (time, duration, nested and binary types).
    """
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "str"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Null:
        return "null"
    return "other"


def is_missing(name: str, dtype: pl.DataType) -> pl.Expr:
    """True where a cell is missing: null, or NaN in a float column."""
    expr = pl.col(name).is_null()
    if dtype.is_float():
        expr = expr | pl.col(name).is_nan().fill_null(False)
    return expr


def json_value(value: Any) -> Any:
    """A cell value as JSON: dates as ISO text, NaN/inf as text, decimals as floats."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def column_list(columns: Sequence[str], *, limit: int = 40) -> str:
    """``a, b, c`` for error messages, shortened when there are many."""
    shown = ", ".join(columns[:limit])
    if len(columns) > limit:
        shown += f", ... ({len(columns) - limit} more)"
    return shown


def nearest_name(name: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``name``, for 'did you mean'."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
