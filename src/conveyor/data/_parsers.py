"""Vectorised readers for values stored as text: numbers, booleans, dates.

Every reader returns null where the text cannot be read; callers compare
with the input to count failures, so nothing turns into null unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

__all__ = [
    "BOOL_FALSE",
    "BOOL_TRUE",
    "DATETIME_FORMATS",
    "ISO_DATETIME_FORMATS",
    "NULL_TOKENS",
    "is_blank",
    "parse_bool",
    "parse_int",
    "parse_number",
    "parse_temporal",
]

BOOL_TRUE = ("true", "t", "yes", "y", "1")
BOOL_FALSE = ("false", "f", "no", "n", "0")
NULL_TOKENS = ("", "na", "n/a", "nan", "null", "none")
"""Text that means 'no value' when a column is read as a number, boolean or date."""

_CURRENCY = r"[$€£¥₹]"
_GROUPED = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$"
_PLAIN_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_PLAIN_INT = r"^[+-]?[0-9]{1,18}$"

ISO_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)
DATETIME_FORMATS = (
    *ISO_DATETIME_FORMATS,
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
)


def is_blank(values: pl.Series) -> pl.Series:
    """True where text is empty, whitespace or a null token such as ``NA`` (not where null)."""
    return values.cast(pl.String).str.strip_chars().str.to_lowercase().is_in(NULL_TOKENS)


def _number_parts(values: pl.Series) -> pl.DataFrame:
    """Columns ``s`` (cleaned digits), ``paren`` (accounting negative) and ``pct`` (percent).

    Each step is its own ``with_columns`` on a materialised column: nesting
    them as one expression would repeat every earlier step in each later one.
    """
    s = pl.col("s")
    return (
        values.cast(pl.String)
        .str.strip_chars()
        .to_frame("s")
        .with_columns(paren=s.str.starts_with("(") & s.str.ends_with(")"))
        .with_columns(s=pl.when("paren").then(s.str.slice(1, s.str.len_chars() - 2)).otherwise(s))
        .with_columns(pct=s.str.ends_with("%"))
        .with_columns(s=s.str.strip_suffix("%").str.replace_all(_CURRENCY, "").str.strip_chars())
        .with_columns(
            s=pl.when(s.str.contains(_GROUPED))
            .then(s.str.replace_all(",", "", literal=True))
            .otherwise(s)
        )
        # "(-5)" is not an accounting negative; refuse it rather than guess.
        .with_columns(s=pl.when(pl.col("paren") & s.str.contains(r"^[+-]")).then(None).otherwise(s))
    )


def _signed(parts: pl.DataFrame, value: pl.Expr) -> pl.Series:
    return (
        parts.with_columns(v=value)
        .select(pl.when("paren").then(-pl.col("v")).otherwise(pl.col("v")))
        .to_series()
    )


def parse_number(values: pl.Series) -> pl.Series:
    """Read ``"1,234.5"``, ``" 12 "``, ``"$1,200"``, ``"(12)"`` and ``"12%"`` (= 0.12) as Float64."""
    parts = _number_parts(values)
    s = pl.col("s")
    number = _signed(
        parts, pl.when(s.str.contains(_PLAIN_NUMBER)).then(s).cast(pl.Float64, strict=False)
    )
    out = pl.select(
        pl.when(parts.get_column("pct")).then(number / 100).otherwise(number)
    ).to_series()
    return out.alias(values.name)


def parse_int(values: pl.Series) -> pl.Series:
    """Read whole numbers as Int64; ``"12.0"`` and ``"1,200"`` are whole, ``"12.5"`` and ``"5%"`` are not."""
    parts = _number_parts(values)
    s = pl.col("s")
    exact = _signed(parts, pl.when(s.str.contains(_PLAIN_INT)).then(s).cast(pl.Int64, strict=False))
    number = parse_number(values)
    whole = (number == number.round(0)) & (number.abs() < 2.0**53) & ~parts.get_column("pct")
    fallback = pl.select(pl.when(whole).then(number).cast(pl.Int64, strict=False)).to_series()
    return exact.fill_null(fallback).alias(values.name)


def parse_bool(values: pl.Series) -> pl.Series:
    """Read yes/no, y/n, true/false, t/f and 1/0 (any case) as Boolean."""
    low = values.cast(pl.String).str.strip_chars().str.to_lowercase()
    out = pl.select(
        pl.when(low.is_in(BOOL_TRUE))
        .then(pl.lit(True))
        .when(low.is_in(BOOL_FALSE))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, pl.Boolean))
    ).to_series()
    return out.alias(values.name)


def parse_temporal(
    values: pl.Series, formats: Sequence[str], dtype: type[pl.Date] | type[pl.Datetime]
) -> tuple[pl.Series, list[str]]:
    """Read text as dates or datetimes trying each format; returns (parsed, formats used).

    A value is read with the format that reads the most values of the column,
    falling back to the others in that order, so that ``01/02/2020`` is read
    the same way as its column's unambiguous ``12/31/2020``.
    """
    text = values.cast(pl.String).str.strip_chars()
    frame = text.to_frame("v")
    attempts = frame.select(
        [
            pl.col("v").str.strptime(dtype, fmt, strict=False).alias(str(i))
            for i, fmt in enumerate(formats)
        ]
    )
    hits = attempts.select(pl.all().is_not_null().sum()).row(0)
    order = sorted((i for i, n in enumerate(hits) if n), key=lambda i: (-hits[i], i))
    if not order:
        return pl.Series(values.name, [None] * len(values), dtype=dtype), []
    # Keep only the formats that read a value no earlier format did.
    used = [order[0]]
    covered = attempts.get_column(str(order[0])).is_not_null()
    for i in order[1:]:
        adds = attempts.get_column(str(i)).is_not_null() & ~covered
        if adds.any():
            used.append(i)
            covered = covered | adds
    parsed = attempts.select(pl.coalesce([pl.col(str(i)) for i in used])).to_series()
    return parsed.alias(values.name), [formats[i] for i in used]
