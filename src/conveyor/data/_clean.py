"""Cleaning operations applied in the order the config lists them.

Each op is a pure function of a frame and its config model; each returns an
:class:`OpReport` saying how many rows and cells it changed, so that no value
changes or disappears without a count in the run's record. Target and id
columns (``protected``) are never dropped, filled or clipped.

Example:
    >>> import polars as pl
    >>> from conveyor.config.models import FillMissing, RepairTypes
    >>> frame = pl.DataFrame({"amount": ["1,200", " 15 ", "", "$3"]})
    >>> result = clean(frame, [RepairTypes(op="repair_types"), FillMissing(op="fill_missing")])
    >>> result.frame["amount"].to_list()
    [1200, 15, 15, 3]
    >>> result.reports[0].message
    'repair_types: amount str -> int (3 cells), 0 failed'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from conveyor.config.models import (
    CleanOp,
    ClipOutliers,
    DropColumns,
    DropDuplicates,
    DropMissing,
    FillMissing,
    NormalizeStrings,
    RepairTypes,
)
from conveyor.data._clean_base import OpContext, OpReport, summarise
from conveyor.data._clean_types import repair_types
from conveyor.data._columns import dtype_kind, is_missing, json_value

__all__ = ["CleanResult", "OpReport", "clean"]


@dataclass(frozen=True)
class CleanResult:
    """The cleaned frame and one report per op, in order."""

    frame: pl.DataFrame
    reports: list[OpReport]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.frame.height,
            "columns": self.frame.width,
            "ops": [r.to_dict() for r in self.reports],
        }


def clean(
    frame: pl.DataFrame, ops: Sequence[CleanOp], *, protected: Sequence[str] = ()
) -> CleanResult:
    """Apply ``ops`` to ``frame`` in order.

    Args:
        frame: the data.
        ops: the ``clean`` section of the config.
        protected: target and id columns; never dropped, filled or clipped, and
            left alone by type detection and by ops that default to all columns.

    Raises:
        DataError: an op names a column the frame does not have (then, as
            ``clean[2] fill_missing: column 'x' not found; columns are: ...``),
            names a protected column, or cannot apply to a column's type.
    """
    reports: list[OpReport] = []
    for index, op in enumerate(ops):
        ctx = OpContext(index=index, op=op.op, protected=frozenset(protected))
        frame, report = _OPS[type(op)](frame, op, ctx)
        reports.append(report)
    return CleanResult(frame=frame, reports=reports)


def _drop_duplicates(
    frame: pl.DataFrame, op: DropDuplicates, ctx: OpContext
) -> tuple[pl.DataFrame, OpReport]:
    if op.subset is not None:
        ctx.require(frame, op.subset)
    out = frame.unique(subset=op.subset, keep=op.keep, maintain_order=True)
    removed = frame.height - out.height
    over = f"columns {summarise(op.subset)}" if op.subset else "whole rows"
    return out, OpReport(
        op=op.op,
        rows_removed=removed,
        details={"subset": op.subset, "keep": op.keep},
        message=f"drop_duplicates: removed {removed} duplicate rows ({over}, keep {op.keep})",
    )


def _drop_missing(
    frame: pl.DataFrame, op: DropMissing, ctx: OpContext
) -> tuple[pl.DataFrame, OpReport]:
    if op.columns is not None:
        ctx.require(frame, op.columns)
    details: dict[str, Any] = {}
    dropped: list[str] = []
    parts: list[str] = []
    if op.column_threshold is not None and frame.height:
        shares = frame.select(
            [is_missing(n, t).mean().alias(n) for n, t in frame.schema.items()]
        ).row(0, named=True)
        above = {n: s for n, s in shares.items() if s > op.column_threshold}
        dropped = [n for n in above if n not in ctx.protected and n not in (op.columns or ())]
        kept = sorted(set(above) - set(dropped))
        details["columns_dropped"] = {n: round(above[n], 6) for n in dropped}
        if kept:
            details["kept_above_threshold"] = kept
        frame = frame.drop(dropped)
        parts.append(
            f"dropped {len(dropped)} columns more than {op.column_threshold:.0%} missing"
            + (f" ({summarise(dropped)})" if dropped else "")
        )
    removed = 0
    if op.columns is not None or op.column_threshold is None:
        names = op.columns if op.columns is not None else frame.columns
        if names:
            missing = frame.select([is_missing(n, frame.schema[n]).alias(n) for n in names])
            details["missing_by_column"] = {
                n: v for n, v in missing.sum().row(0, named=True).items() if v
            }
            keep = ~missing.select(pl.any_horizontal(pl.all())).to_series()
            out = frame.filter(keep)
            removed = frame.height - out.height
            frame = out
        scope = summarise(op.columns) if op.columns is not None else "any column"
        parts.insert(0, f"removed {removed} rows missing {scope}")
    return frame, OpReport(
        op=op.op,
        rows_removed=removed,
        columns_removed=dropped,
        details=details,
        message="drop_missing: " + "; ".join(parts),
    )


def _fill_missing(
    frame: pl.DataFrame, op: FillMissing, ctx: OpContext
) -> tuple[pl.DataFrame, OpReport]:
    if op.columns is not None:
        ctx.require(frame, op.columns)
        ctx.refuse_protected(op.columns, "filled")
        names = list(op.columns)
    else:
        counts = frame.select([is_missing(n, t).sum().alias(n) for n, t in frame.schema.items()])
        names = [n for n, v in counts.row(0, named=True).items() if v and n not in ctx.protected]
    if not names:
        return frame, OpReport(op=op.op, message="fill_missing: nothing to fill")
    missing = frame.select([is_missing(n, frame.schema[n]).alias(n) for n in names])
    per_column: dict[str, Any] = {}
    exprs = []
    for name in names:
        dtype = frame.schema[name]
        cells = int(missing[name].sum())
        strategy, value = _fill_value(frame, name, op, ctx)
        per_column[name] = {"strategy": strategy, "value": json_value(value), "cells": cells}
        if value is None or not cells:
            per_column[name]["cells"] = 0
            continue
        exprs.append(
            pl.when(is_missing(name, dtype))
            .then(pl.lit(value))
            .otherwise(pl.col(name))
            .cast(dtype)
            .alias(name)
        )
    out = frame.with_columns(exprs) if exprs else frame
    filled = [n for n in names if per_column[n]["cells"]]
    rows = int(missing.select(pl.any_horizontal(filled)).to_series().sum()) if filled else 0
    cells = sum(v["cells"] for v in per_column.values())
    empty = [n for n in names if per_column[n]["value"] is None]
    shown = summarise(
        [f"{n} {per_column[n]['strategy']}={per_column[n]['value']!r}" for n in filled]
    )
    return out, OpReport(
        op=op.op,
        rows_changed=rows,
        cells_changed=cells,
        details={"columns": per_column},
        message=f"fill_missing: filled {cells} cells in {len(filled)} columns"
        + (f" ({shown})" if filled else "")
        + (f"; no values to fill from in {summarise(empty)}" if empty else ""),
    )


def _fill_value(frame: pl.DataFrame, name: str, op: FillMissing, ctx: OpContext) -> tuple[str, Any]:
    dtype = frame.schema[name]
    kind = dtype_kind(dtype)
    if op.strategy == "constant":
        try:
            return "constant", pl.select(pl.lit(op.value).cast(dtype, strict=True)).item()
        except pl.exceptions.PolarsError as exc:
            raise ctx.error(f"value {op.value!r} does not fit column '{name}' ({kind})") from exc
    values = frame.get_column(name).drop_nulls()
    if dtype.is_float():
        values = values.drop_nans()
    if values.is_empty():
        return op.strategy, None
    if op.strategy in ("median", "mean") and kind in ("int", "float"):
        stat = values.median() if op.strategy == "median" else values.mean()
        return op.strategy, round(stat) if kind == "int" else stat  # type: ignore[arg-type]
    # Text, booleans and dates have no mean: their most common value stands in.
    counts = values.value_counts(name="__n").sort(["__n", name], descending=[True, False])
    return "mode", counts.get_column(name)[0]


def _normalize_strings(
    frame: pl.DataFrame, op: NormalizeStrings, ctx: OpContext
) -> tuple[pl.DataFrame, OpReport]:
    if op.columns is not None:
        ctx.require(frame, op.columns)
        names = list(op.columns)
        for name in names:
            if dtype_kind(frame.schema[name]) != "str":
                raise ctx.error(
                    f"column '{name}' is {dtype_kind(frame.schema[name])}; "
                    "normalize_strings works on text columns"
                )
    else:
        names = ctx.columns_of_kind(frame, ["str"])
    exprs = []
    for name in names:
        text = pl.col(name).cast(pl.String)
        if op.trim:
            text = text.str.strip_chars()
        if op.case != "keep":
            text = text.str.to_lowercase() if op.case == "lower" else text.str.to_uppercase()
        if op.empty_as_null:
            text = pl.when(text == "").then(pl.lit(None, pl.String)).otherwise(text)
        exprs.append(text.alias(name))
    if not names:
        return frame, OpReport(op=op.op, message="normalize_strings: no text columns")
    out = frame.with_columns(exprs)
    changed = pl.DataFrame(
        [frame.get_column(n).cast(pl.String).ne_missing(out.get_column(n)).alias(n) for n in names]
    )
    cells = int(changed.sum().sum_horizontal().item())
    rows = int(changed.select(pl.any_horizontal(pl.all())).to_series().sum())
    steps = [
        s
        for s, on in (
            ("trim", op.trim),
            (op.case, op.case != "keep"),
            ("empty -> null", op.empty_as_null),
        )
        if on
    ]
    return out, OpReport(
        op=op.op,
        rows_changed=rows,
        cells_changed=cells,
        details={"columns": names, "steps": steps},
        message=f"normalize_strings: changed {cells} cells in {len(names)} columns ({', '.join(steps) or 'no steps'})",
    )


def _clip_outliers(
    frame: pl.DataFrame, op: ClipOutliers, ctx: OpContext
) -> tuple[pl.DataFrame, OpReport]:
    if op.columns is not None:
        ctx.require(frame, op.columns)
        ctx.refuse_protected(op.columns, "clipped")
        names = list(op.columns)
        for name in names:
            if dtype_kind(frame.schema[name]) not in ("int", "float"):
                raise ctx.error(
                    f"column '{name}' is {dtype_kind(frame.schema[name])}; "
                    "clip_outliers works on numeric columns"
                )
    else:
        names = ctx.columns_of_kind(frame, ["int", "float"])
    if not names or not frame.height:
        return frame, OpReport(op=op.op, message="clip_outliers: no numeric columns to clip")

    def method(name: str) -> Any:
        # Whole-number columns clip to values that occur, so they stay whole.
        return "nearest" if frame.schema[name].is_integer() else "linear"

    bounds = frame.select(
        [
            pl.col(n).quantile(q, method(n)).alias(f"{n}\x00{q}")
            for n in names
            for q in (op.lower, op.upper)
        ]
    ).row(0)
    per_column: dict[str, Any] = {}
    exprs, flags = [], []
    for i, name in enumerate(names):
        lo, hi = bounds[2 * i], bounds[2 * i + 1]
        if lo is None or hi is None:
            continue
        outside = (pl.col(name) < lo) | (pl.col(name) > hi)
        flags.append(outside.fill_null(False).alias(name))
        exprs.append(pl.col(name).clip(lo, hi).cast(frame.schema[name]).alias(name))
        per_column[name] = {"lower": json_value(lo), "upper": json_value(hi)}
    changed = frame.select(flags) if flags else pl.DataFrame()
    for name, n in changed.sum().row(0, named=True).items() if flags else ():
        per_column[name]["cells"] = n
    cells = sum(v.get("cells", 0) for v in per_column.values())
    rows = int(changed.select(pl.any_horizontal(pl.all())).to_series().sum()) if flags else 0
    return frame.with_columns(exprs), OpReport(
        op=op.op,
        rows_changed=rows,
        cells_changed=cells,
        details={"columns": per_column},
        message=f"clip_outliers: clipped {cells} cells in {len(per_column)} columns "
        f"to quantiles {op.lower:g}..{op.upper:g}",
    )


def _drop_columns(
    frame: pl.DataFrame, op: DropColumns, ctx: OpContext
) -> tuple[pl.DataFrame, OpReport]:
    ctx.require(frame, op.columns)
    ctx.refuse_protected(op.columns, "dropped")
    names = list(dict.fromkeys(op.columns))
    return frame.drop(names), OpReport(
        op=op.op,
        columns_removed=names,
        details={"columns": names},
        message=f"drop_columns: dropped {len(names)} columns ({summarise(names)})",
    )


_OPS: dict[type, Callable[[pl.DataFrame, Any, OpContext], tuple[pl.DataFrame, OpReport]]] = {
    DropDuplicates: _drop_duplicates,
    DropMissing: _drop_missing,
    FillMissing: _fill_missing,
    RepairTypes: repair_types,
    NormalizeStrings: _normalize_strings,
    ClipOutliers: _clip_outliers,
    DropColumns: _drop_columns,
}
