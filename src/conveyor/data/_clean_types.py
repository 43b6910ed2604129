"""The ``repair_types`` op: read numbers, booleans and dates stored as text.

Two modes. With ``columns`` set, each named column is converted to its type
and every value that fails to parse becomes null, counted and reported with
examples. Without it, every unprotected text column is tried as bool, number,
date and datetime and converted only when at least ``min_share`` of its
non-missing values parse; values that still fail are counted and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from conveyor.config.models import RepairTypes
from conveyor.data._clean_base import OpContext, OpReport
from conveyor.data._columns import dtype_kind, json_value
from conveyor.data._parsers import (
    DATETIME_FORMATS,
    is_blank,
    parse_bool,
    parse_int,
    parse_number,
    parse_temporal,
)

__all__ = ["repair_types"]

MAX_FAILED_EXAMPLES = 5
_LEADING_ZERO = r"^\s*[+-]?0[0-9]"
_WORDY_BOOL = r"(?i)^\s*(true|false|yes|no|y|n|t|f)\s*$"


@dataclass
class _Conversion:
    """One column's conversion: the new values and what happened to the old ones."""

    name: str
    source: str
    target: str
    values: pl.Series
    cells: int = 0
    failed: int = 0
    blanks: int = 0
    failed_examples: list[Any] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.source,
            "to": self.target,
            "cells": self.cells,
            "failed": self.failed,
            "blank_to_null": self.blanks,
        }
        if self.failed_examples:
            out["failed_examples"] = [json_value(v) for v in self.failed_examples]
        if self.formats:
            out["formats"] = self.formats
        return out

    def line(self) -> str:
        return (
            f"{self.name} {self.source} -> {self.target} ({self.cells} cells), {self.failed} failed"
        )


def repair_types(
    frame: pl.DataFrame, op: RepairTypes, ctx: OpContext
) -> tuple[pl.DataFrame, OpReport]:
    """Convert text columns to the types they hold (see the module docstring)."""
    conversions: list[_Conversion] = []
    near_misses: dict[str, Any] = {}
    if op.columns is not None:
        ctx.require(frame, op.columns)
        for name, target in op.columns.items():
            conv = _convert(frame.get_column(name), target, op, ctx)
            if conv is not None:
                conversions.append(conv)
    else:
        for name in ctx.columns_of_kind(frame, ["str"]):
            conv, miss = _detect(frame.get_column(name), op)
            if conv is not None:
                conversions.append(conv)
            elif miss:
                near_misses[name] = miss
    out = frame.with_columns([c.values for c in conversions]) if conversions else frame
    touched = [c.name for c in conversions]
    rows = (
        int(
            frame.select(pl.any_horizontal([pl.col(n).is_not_null() for n in touched]))
            .to_series()
            .sum()
        )
        if touched and frame.height
        else 0
    )
    details: dict[str, Any] = {
        "mode": "explicit" if op.columns is not None else "detect",
        "columns": {c.name: c.details() for c in conversions},
    }
    if near_misses:
        details["kept_as_text"] = near_misses
    message = "repair_types: " + (
        "; ".join(c.line() for c in conversions) or "no columns converted"
    )
    return out, OpReport(
        op=op.op,
        rows_changed=rows,
        cells_changed=sum(c.cells + c.failed + c.blanks for c in conversions),
        details=details,
        message=message,
    )


def _detect(values: pl.Series, op: RepairTypes) -> tuple[_Conversion | None, dict[str, Any] | None]:
    text = values.cast(pl.String)
    present = text.is_not_null() & ~is_blank(text)
    n = int(present.sum())
    if n == 0:
        return None, None
    need = op.min_share * n
    booleans = parse_bool(text)
    # "0"/"1" alone read better as numbers; a yes/no/true/false column is boolean.
    if booleans.is_not_null().sum() >= need and text.str.contains(_WORDY_BOOL).any():
        return _finish_parsed(values, "bool", booleans, present), None
    numbers = parse_number(text)
    # Leading zeros mark codes (zip codes, account numbers) that must stay text.
    if numbers.is_not_null().sum() >= need and not text.str.contains(_LEADING_ZERO).any():
        whole = parse_int(text)
        if whole.is_not_null().sum() == numbers.is_not_null().sum():
            return _finish_parsed(values, "int", whole, present), None
        return _finish_parsed(values, "float", numbers, present), None
    dates, date_formats = parse_temporal(text, op.date_formats, pl.Date)
    if dates.is_not_null().sum() >= need:
        return _finish_parsed(values, "date", dates, present, date_formats), None
    stamps, stamp_formats = parse_temporal(text, DATETIME_FORMATS, pl.Datetime("us"))
    if stamps.is_not_null().sum() >= need:
        return _finish_parsed(values, "datetime", stamps, present, stamp_formats), None
    shares = {
        "bool": int(booleans.is_not_null().sum()),
        "number": int(numbers.is_not_null().sum()),
        "date": int(dates.is_not_null().sum()),
        "datetime": int(stamps.is_not_null().sum()),
    }
    best = max(shares, key=lambda k: shares[k])
    if shares[best] < n / 2:  # only near misses are worth a line in the report
        return None, None
    return None, {"best": best, "share": round(shares[best] / n, 4), "min_share": op.min_share}


def _convert(values: pl.Series, target: str, op: RepairTypes, ctx: OpContext) -> _Conversion | None:
    source = dtype_kind(values.dtype)
    if source == target:
        return None
    name = values.name
    if source == "null":
        dtype = {
            "float": pl.Float64,
            "int": pl.Int64,
            "bool": pl.Boolean,
            "date": pl.Date,
            "datetime": pl.Datetime("us"),
            "str": pl.String,
        }[target]
        return _Conversion(name, source, target, values.cast(dtype))
    if target == "str":
        return _finish_parsed(values, "str", values.cast(pl.String), values.is_not_null())
    if source == "str":
        present = values.is_not_null() & ~is_blank(values)
        if target in ("date", "datetime"):
            dtype = pl.Date if target == "date" else pl.Datetime("us")
            formats = (
                list(op.date_formats) if target == "date" else [*DATETIME_FORMATS, *op.date_formats]
            )
            parsed, used = parse_temporal(values, formats, dtype)
            return _finish_parsed(values, target, parsed, present, used)
        reader = {"float": parse_number, "int": parse_int, "bool": parse_bool}[target]
        return _finish_parsed(values, target, reader(values), present)
    present = values.is_not_null()
    if values.dtype.is_float():
        present = present & ~values.is_nan()
    frame = values.to_frame("v")
    v = pl.col("v")
    if target == "float" and source in ("int", "bool"):
        parsed = values.cast(pl.Float64)
    elif target == "int" and source in ("float", "bool"):
        whole = v.is_finite() & (v == v.round(0)) if source == "float" else pl.lit(True)
        parsed = frame.select(pl.when(whole).then(v).cast(pl.Int64, strict=False)).to_series()
    elif target == "bool" and source in ("int", "float"):
        parsed = frame.select(pl.when(v.is_in([0, 1])).then(v == 1)).to_series()
    elif target == "datetime" and source == "date":
        parsed = values.cast(pl.Datetime("us"))
    elif target == "date" and source == "datetime":
        parsed = values.dt.date()
    else:
        raise ctx.error(
            f"cannot convert column '{name}' from {source} to {target}",
            hint="convert it to str first, or remove it from repair_types.columns",
        )
    return _finish_parsed(values, target, parsed.alias(name), present)


def _finish_parsed(
    values: pl.Series,
    target: str,
    parsed: pl.Series,
    present: pl.Series,
    formats: list[str] | None = None,
) -> _Conversion:
    ok = parsed.is_not_null()
    failed_mask = present & ~ok
    blanks = values.is_not_null() & ~present
    failed_values = values.filter(failed_mask)
    return _Conversion(
        name=values.name,
        source=dtype_kind(values.dtype),
        target=target,
        values=parsed.alias(values.name),
        cells=int(ok.sum()),
        failed=int(failed_mask.sum()),
        blanks=int(blanks.sum()),
        failed_examples=failed_values.unique(maintain_order=True)
        .head(MAX_FAILED_EXAMPLES)
        .to_list(),
        formats=formats or [],
    )
