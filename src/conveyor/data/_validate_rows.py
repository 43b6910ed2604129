"""Row-level checks of validation: one boolean mask per (check, column), and the violations.

The masks are polars expressions over the frame after casting, with a
``FAILED + name`` column marking cells whose value could not be cast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from conveyor.config.models import ValidateConfig
from conveyor.data._columns import column_list, is_missing, json_value
from conveyor.data._validate_cast import ColumnCast
from conveyor.data.schema import ColumnSchema

__all__ = [
    "FAILED",
    "MAX_EXAMPLES",
    "REASON",
    "ROW",
    "RowCheck",
    "Violation",
    "ViolationKind",
    "example_rows",
    "row_checks",
    "row_violation",
]

ViolationKind = Literal[
    "missing_column",
    "extra_column",
    "type_mismatch",
    "out_of_range",
    "unseen_category",
    "null_rate_jump",
    "null_in_required",
    "duplicate_id",
]
MAX_EXAMPLES = 5
ROW = "__row"
REASON = "__reason"
FAILED = "\x00failed\x00"


@dataclass(frozen=True)
class Violation:
    """One broken expectation: what, which column, how many rows, examples.

    ``examples`` are up to five offending rows as dicts (JSON-safe values),
    each with its original 0-based row number under ``__row``.
    """

    kind: ViolationKind
    column: str | None
    count: int
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "count": self.count,
            "message": self.message,
            "examples": self.examples,
        }


@dataclass(frozen=True)
class RowCheck:
    """One check on one column: true where a row breaks it."""

    kind: ViolationKind
    column: ColumnSchema
    mask: pl.Expr

    @property
    def key(self) -> str:
        return f"{self.kind}({self.column.name})"


def row_checks(
    checked: list[ColumnSchema],
    casts: dict[str, ColumnCast],
    typed: pl.Schema,
    config: ValidateConfig,
) -> list[RowCheck]:
    checks: list[RowCheck] = []
    for col in checked:
        if col.name not in casts:
            continue
        name, c = col.name, pl.col(col.name)
        failed = pl.col(FAILED + name) if casts[name].failed is not None else pl.lit(False)
        if casts[name].failed is not None:
            checks.append(RowCheck("type_mismatch", col, failed))
        if not col.nullable:
            checks.append(
                RowCheck("null_in_required", col, is_missing(name, typed[name]) & ~failed)
            )
        if (
            config.check_ranges
            and col.dtype in ("int", "float")
            and (col.min is not None or col.max is not None)
        ):
            lo, hi = _bounds(col, config.range_tolerance)
            below = c < lo if lo is not None else pl.lit(False)
            above = c > hi if hi is not None else pl.lit(False)
            number = ~c.is_nan() if col.dtype == "float" else pl.lit(True)
            checks.append(RowCheck("out_of_range", col, (below | above) & number))
        if config.check_categories and col.dtype == "category" and col.categories is not None:
            checks.append(
                RowCheck("unseen_category", col, c.is_not_null() & ~c.is_in(list(col.categories)))
            )
        if col.unique:
            checks.append(RowCheck("duplicate_id", col, c.is_not_null() & ~c.is_first_distinct()))
    return checks


def _bounds(col: ColumnSchema, tolerance: float) -> tuple[float | None, float | None]:
    span = (col.max - col.min) if col.min is not None and col.max is not None else 0.0
    slack = tolerance * (span if span > 0 else max(abs(col.min or 0.0), abs(col.max or 0.0), 1.0))
    lo = col.min - slack if col.min is not None else None
    hi = col.max + slack if col.max is not None else None
    return lo, hi


def row_violation(
    chk: RowCheck,
    count: int,
    masks: pl.DataFrame,
    frame: pl.DataFrame,
    typed: pl.DataFrame,
    config: ValidateConfig,
) -> Violation:
    rows = masks.get_column(chk.key).arg_true().head(MAX_EXAMPLES)
    examples = example_rows(frame, rows)
    col = chk.column
    name = col.name
    shown = ", ".join(f"{json_value(ex[name])!r} (row {ex[ROW]})" for ex in examples)
    plural = "s" if count != 1 else ""
    if chk.kind == "type_mismatch":
        msg = f"column '{name}': {count} value{plural} cannot be read as {col.dtype}, e.g. {shown}"
        if config.on_violation == "warn":
            msg += "; kept as missing"
    elif chk.kind == "null_in_required":
        msg = (
            f"column '{name}' is not nullable but {count} row{plural} miss it, e.g. rows "
            + ", ".join(str(ex[ROW]) for ex in examples)
        )
    elif chk.kind == "out_of_range":
        lo, hi = _bounds(col, config.range_tolerance)
        msg = (
            f"column '{name}': {count} value{plural} outside [{_num(lo)}, {_num(hi)}] "
            f"(schema range {_num(col.min)}..{_num(col.max)}, tolerance {config.range_tolerance:g}), "
            f"e.g. {shown}"
        )
    elif chk.kind == "unseen_category":
        unseen = (
            typed.filter(masks.get_column(chk.key)).get_column(name).unique(maintain_order=True)
        )
        values = ", ".join(repr(v) for v in unseen.head(MAX_EXAMPLES).to_list())
        more = f" and {unseen.len() - MAX_EXAMPLES} more" if unseen.len() > MAX_EXAMPLES else ""
        known = column_list(list(col.categories or {}), limit=10)
        msg = (
            f"column '{name}': {count} row{plural} have a value not in the schema's categories: "
            f"{values}{more} (known: {known})"
        )
    else:
        msg = f"column '{name}': {count} row{plural} repeat a value seen in an earlier row, e.g. {shown}"
    return Violation(chk.kind, name, count, msg, examples)


def example_rows(frame: pl.DataFrame, rows: pl.Series) -> list[dict[str, Any]]:
    idx = rows.to_list()
    if not idx:
        return []
    picked = frame[idx].to_dicts()
    return [{ROW: i, **{k: json_value(v) for k, v in row.items()}} for i, row in zip(idx, picked)]


def _num(value: float | None) -> str:
    return "-inf" if value is None else f"{value:g}"
