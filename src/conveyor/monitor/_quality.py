"""Data quality of logged inputs, checked against the model signature.

Per input field: the null rate; schema violations (a null in a field that is
not nullable, a value that is not of the field's type, or the field absent
from the log altogether); unseen categories (a categorical field's value not
among the categories seen in training); out-of-range values (a number, or a
datetime, outside the training minimum and maximum).

The snapshot shares are taken over all cells they could apply to:
``data.null_rate`` over every input cell, ``data.unseen_categories`` over the
non-null values of categorical fields with a known category list, and
``data.out_of_range`` over the non-null values of fields with a known range.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from conveyor.bundle import Signature

__all__ = ["data_quality", "typed_inputs"]

_MAX_EXAMPLES = 5
_NUMERIC = ("number", "integer")


def _expected(field_type: str) -> pl.DataType:
    return {
        "number": pl.Float64(),
        "integer": pl.Float64(),
        "boolean": pl.Boolean(),
        "string": pl.String(),
        "datetime": pl.Datetime("us", "UTC"),
    }[field_type]


def _typed(column: pl.Series, field_type: str) -> pl.Series:
    """The column in the field's type; values that are not of it become null."""
    target = _expected(field_type)
    if field_type == "datetime":
        if column.dtype == pl.String:
            return column.str.to_datetime(strict=False, time_zone="UTC")
        if isinstance(column.dtype, pl.Datetime):
            zone = column.dtype.time_zone
            return (
                column.dt.replace_time_zone("UTC")
                if zone is None
                else column.dt.convert_time_zone("UTC")
            )
        return pl.Series(column.name, [None] * len(column), dtype=target)
    if field_type == "boolean" and column.dtype == pl.String:
        lowered = column.str.to_lowercase()
        return lowered.replace_strict(
            {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
        )
    if field_type == "string":
        return column if column.dtype == pl.String else column.cast(pl.String)
    values = column.cast(target, strict=False)
    if field_type == "integer":  # 2.5 is not an integer: a type violation, like "abc"
        fractional = (values != values.floor()).fill_null(False)
        values = values.set(fractional, None)  # type: ignore[arg-type]
    return values


def typed_inputs(frame: pl.DataFrame, signature: Signature) -> pl.DataFrame:
    """Inputs named by field and cast to the signature's types (bad values become null).

    Boolean categories are kept as text ``True``/``False``, the key the reference
    statistics count them under.
    """
    columns = []
    for field in signature.inputs:
        if field.name not in frame.columns:
            columns.append(
                pl.Series(field.name, [None] * frame.height, dtype=_expected(field.type))
            )
            continue
        typed = _typed(frame[field.name], field.type)
        if field.kind == "categorical" and typed.dtype == pl.Boolean:
            typed = typed.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
        elif field.kind == "categorical" and field.type == "integer":
            typed = typed.cast(pl.Int64)  # keyed "1" like the reference, not "1.0"
        columns.append(typed.alias(field.name))
    return pl.DataFrame(columns) if columns else pl.DataFrame({"__rows": [None] * frame.height})


def _category_text(column: pl.Series) -> pl.Series:
    if column.dtype == pl.Boolean:
        return column.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
    return column.cast(pl.String)


def _range_check(typed: pl.Series, field: Any) -> pl.Series | None:
    low, high = field.minimum, field.maximum
    if low is None and high is None:
        return None
    if field.type in _NUMERIC and typed.dtype.is_numeric():
        outside = pl.Series([False] * len(typed), dtype=pl.Boolean)
        if low is not None:
            outside = outside | (typed < float(low)).fill_null(False)
        if high is not None:
            outside = outside | (typed > float(high)).fill_null(False)
        return outside
    if field.type == "datetime":
        bounds = pl.Series([low, high], dtype=pl.String).str.to_datetime(
            strict=False, time_zone="UTC"
        )
        outside = pl.Series([False] * len(typed), dtype=pl.Boolean)
        if bounds[0] is not None:
            outside = outside | (typed < bounds[0]).fill_null(False)
        if bounds[1] is not None:
            outside = outside | (typed > bounds[1]).fill_null(False)
        return outside
    return None


def _examples(values: pl.Series) -> list[Any]:
    return values.drop_nulls().unique(maintain_order=True).head(_MAX_EXAMPLES).to_list()


def data_quality(frame: pl.DataFrame, signature: Signature) -> dict[str, Any]:
    """Quality of the logged inputs in ``frame`` (columns named by field) against ``signature``."""
    rows = frame.height
    per_field: dict[str, dict[str, Any]] = {}
    totals = {"cells": 0, "nulls": 0, "categorical": 0, "unseen": 0, "ranged": 0, "outside": 0}
    violations = 0
    for field in signature.inputs:
        entry: dict[str, Any] = {"type": field.type, "kind": field.kind, "logged": True}
        if field.name not in frame.columns:
            entry.update(logged=False, nulls=rows, null_rate=1.0 if rows else None)
            entry["violations"] = {"absent": rows, "null": 0, "type": 0}
            totals["cells"] += rows
            totals["nulls"] += rows
            violations += rows
            per_field[field.name] = entry
            continue
        column = frame[field.name]
        typed = _typed(column, field.type)
        nulls = int(column.is_null().sum())
        wrong_type = typed.is_null() & column.is_not_null()
        type_errors = int(wrong_type.sum())
        null_errors = 0 if field.nullable else nulls
        entry.update(nulls=nulls, null_rate=nulls / rows if rows else None)
        entry["violations"] = {"absent": 0, "null": null_errors, "type": type_errors}
        if type_errors:
            entry["type_examples"] = [str(v) for v in _examples(column.filter(wrong_type))]
        violations += null_errors + type_errors
        totals["cells"] += rows
        totals["nulls"] += nulls
        present = typed.drop_nulls()
        if field.kind == "categorical" and field.categories is not None:
            allowed = [str(c) for c in field.categories]
            text = _category_text(present)
            unseen = ~text.is_in(allowed)
            entry["unseen"] = int(unseen.sum())
            entry["unseen_rate"] = entry["unseen"] / len(present) if len(present) else None
            entry["unseen_examples"] = _examples(text.filter(unseen))
            totals["categorical"] += len(present)
            totals["unseen"] += entry["unseen"]
        outside = _range_check(present, field)
        if outside is not None:
            entry["out_of_range"] = int(outside.sum())
            entry["out_of_range_rate"] = (
                entry["out_of_range"] / len(present) if len(present) else None
            )
            entry["range"] = [field.minimum, field.maximum]
            totals["ranged"] += len(present)
            totals["outside"] += entry["out_of_range"]
        per_field[field.name] = entry
    return {
        "rows": rows,
        "null_rate": totals["nulls"] / totals["cells"] if totals["cells"] else None,
        "schema_violations": violations,
        "unseen_categories": totals["unseen"] / totals["categorical"]
        if totals["categorical"]
        else None,
        "out_of_range": totals["outside"] / totals["ranged"] if totals["ranged"] else None,
        "fields": per_field,
    }
