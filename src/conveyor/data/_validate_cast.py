"""Bring a column to the type its schema names, or say why it cannot be.

Validation accepts data that *means* the schema's type even when the reader
typed it differently: an int column arriving as float with whole values, a
number arriving as clean text ("42"), a category arriving as an int. Repairs
of messier text ("1,234", "$5") belong to ``clean``'s ``repair_types``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from conveyor.data._columns import dtype_kind, is_missing
from conveyor.data._parsers import BOOL_FALSE, BOOL_TRUE, ISO_DATETIME_FORMATS

__all__ = ["ColumnCast", "plan_cast"]

_TEXT_TYPES = ("str", "category", "text")


@dataclass(frozen=True)
class ColumnCast:
    """How to read one column as its schema type.

    ``value`` is the converted column; ``failed`` is true where a present value
    could not be converted (None when no value can fail). ``problem`` is set
    instead when the column's type cannot hold the schema's type at all.
    """

    name: str
    expected: str
    got: str
    value: pl.Expr | None = None
    failed: pl.Expr | None = None
    present: pl.Expr | None = None
    problem: str | None = None


def plan_cast(name: str, dtype: pl.DataType, expected: str) -> ColumnCast:
    """The expressions that read column ``name`` (polars ``dtype``) as schema type ``expected``."""
    got = dtype_kind(dtype)
    col = pl.col(name)
    present = ~is_missing(name, dtype)
    if got == "str" and expected not in _TEXT_TYPES:
        # Blank text is a missing value, not an unreadable one.
        present = present & (col.cast(pl.String).str.strip_chars() != "")

    def ok(value: pl.Expr) -> ColumnCast:
        return ColumnCast(name, expected, got, value=value.alias(name))

    def check(value: pl.Expr, readable: pl.Expr) -> ColumnCast:
        # Unreadable cells become null in ``value`` and are flagged in ``failed``.
        failed = (present & ~readable.fill_null(False)).alias(name)
        return ColumnCast(
            name, expected, got, value=value.alias(name), failed=failed, present=present
        )

    def refuse() -> ColumnCast:
        return ColumnCast(
            name, expected, got, problem=f"got {got} ({dtype}), which cannot be read as {expected}"
        )

    if got == "null":
        target = {
            "int": pl.Int64,
            "float": pl.Float64,
            "bool": pl.Boolean,
            "date": pl.Date,
            "datetime": pl.Datetime("us"),
        }.get(expected, pl.String)
        return ok(col.cast(target))
    if expected in _TEXT_TYPES:
        if got in ("str", "int", "float", "bool", "date", "datetime"):
            return ok(col.cast(pl.String))
        return refuse()
    if expected == "float":
        if got in ("int", "float", "bool"):
            return ok(col.cast(pl.Float64))
        if got == "str":
            value = col.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
            return check(value, value.is_not_null())
        return refuse()
    if expected == "int":
        if got in ("int", "bool"):
            return ok(col.cast(pl.Int64))
        if got in ("float", "str"):
            number = (
                col.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
                if got == "str"
                else col
            )
            whole = number.is_finite() & (number == number.round(0)) & (number.abs() < 2.0**63)
            value = pl.when(whole).then(number).otherwise(None).cast(pl.Int64, strict=False)
            return check(value, whole)
        return refuse()
    if expected == "bool":
        if got == "bool":
            return ok(col)
        if got in ("int", "float"):
            readable = col.is_in([0, 1])
            return check(pl.when(readable).then(col == 1).otherwise(None), readable)
        if got == "str":
            low = col.cast(pl.String).str.strip_chars().str.to_lowercase()
            value = pl.when(low.is_in(BOOL_TRUE)).then(True).when(low.is_in(BOOL_FALSE)).then(False)
            return check(value, value.is_not_null())
        return refuse()
    if expected == "date":
        if got == "date":
            return ok(col)
        if got == "datetime":
            midnight = col == col.dt.truncate("1d")
            return check(pl.when(midnight).then(col.dt.date()), midnight)
        if got == "str":
            value = (
                col.cast(pl.String)
                .str.strip_chars()
                .str.strptime(pl.Date, "%Y-%m-%d", strict=False)
            )
            return check(value, value.is_not_null())
        return refuse()
    if expected == "datetime":
        if got == "datetime":
            return ok(col)
        if got == "date":
            return ok(col.cast(pl.Datetime("us")))
        if got == "str":
            text = col.cast(pl.String).str.strip_chars()
            tries = [
                text.str.strptime(pl.Datetime("us"), f, strict=False) for f in ISO_DATETIME_FORMATS
            ]
            tries.append(
                text.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
            )
            value = pl.coalesce(tries)
            return check(value, value.is_not_null())
        return refuse()
    return refuse()
