"""Vectorised validation of one batch chunk against the model signature.

Each input column is typed as the signature says with Polars, one column at a
time. A value that cannot be typed, a null in a required field, NaN or
infinity in a number and an unknown category give its row a reason worded
like the record validator's (``field 'tenure': expected integer, got 'abc'``);
Python runs per *rejected* row only, to word the reason.

Datetime text in the usual ISO 8601 shapes (``2001-01-09``,
``2001-01-09 00:16:00``, ``2001-01-09T00:16:00.25``) is parsed by Polars;
every other value of a datetime column (offsets, week dates, other types…)
goes through the signature's record validator, the reference for what
``datetime.fromisoformat`` accepts, so both paths accept and reject the same
values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from conveyor.bundle import InputField, RecordValidator, Signature

__all__ = ["check_chunk"]

# Text that both Polars (with one of _ISO_FORMATS) and datetime.fromisoformat read the same
# way. Polars alone would take year 0000 and a leap second (:60, rolled over to the next
# minute) that Python refuses; invalid days (02-30) fail in both.
_ISO_TEXT = (
    r"^(?:[1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])-\d{2}-\d{2}"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?)?$"
)
_ISO_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d")
_TRUTHY = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


def check_chunk(
    chunk: pl.DataFrame, signature: Signature, validator: RecordValidator
) -> tuple[pl.DataFrame, dict[int, str]]:
    """Type the input columns of ``chunk`` like ``signature``; reasons for rows that cannot be.

    Args:
        chunk: one slice of the input, holding at least the signature's columns.
        signature: the model's signature.
        validator: the signature's record validator (strict categories), used
            for datetime values in shapes the vectorised parser does not take.

    Returns:
        The typed input columns (a cell that failed is null) and, for each
        row position with a problem, its reasons joined by ``"; "``.

    Example:
        >>> typed, reasons = check_chunk(chunk, sig, sig.validator())  # doctest: +SKIP
        >>> reasons
        {3: "field 'tenure': expected integer, got 'abc'"}
    """
    import polars as pl

    reasons: dict[int, str] = {}
    columns: list[pl.Series] = []
    for f in signature.inputs:
        raw = chunk.get_column(f.name)
        if f.type == "datetime":
            typed, bad = _datetime_column(f, raw, validator, reasons)
        else:
            typed, bad = _typed_column(f, raw, reasons)
        _check_values(f, typed, bad, reasons)
        columns.append(typed.alias(f.name))
    return pl.DataFrame(columns, height=chunk.height), reasons


def _add(reasons: dict[int, str], row: int, reason: str) -> None:
    old = reasons.get(row)
    reasons[row] = reason if old is None else f"{old}; {reason}"


def _typed_column(
    f: InputField, raw: pl.Series, reasons: dict[int, str]
) -> tuple[pl.Series, pl.Series]:
    """A number, integer, boolean or string column typed; (typed, mask of values that failed)."""
    import polars as pl

    if raw.dtype.is_nested() or raw.dtype == pl.Object:
        # Lists and structs (JSON arrays/objects, nested Parquet) are never a scalar field.
        typed = pl.repeat(None, raw.len(), dtype=pl.Float64, eager=True)
        typed = typed.cast(pl.String) if f.type == "string" else typed
        bad = raw.is_not_null()
    elif f.type in ("number", "integer"):
        typed = _to_float(raw)
        bad = raw.is_not_null() & typed.is_null()
        if f.type == "integer":
            frac = typed.is_not_null() & typed.is_finite() & (typed.round(0) != typed)
            bad = bad | frac.fill_null(False)
    elif f.type == "boolean":
        typed = _to_bool(raw)
        bad = raw.is_not_null() & typed.is_null()
    else:
        typed = raw.cast(pl.String)
        bad = pl.repeat(False, raw.len(), dtype=pl.Boolean, eager=True)
    bad_rows = bad.arg_true()
    if len(bad_rows):
        for i, value in zip(bad_rows.to_list(), raw.gather(bad_rows).to_list()):
            _add(reasons, i, f"field {f.name!r}: expected {f.type}, got {value!r}")
        typed = typed.scatter(bad_rows, None)
    target = {"number": pl.Float64, "integer": pl.Int64, "boolean": pl.Boolean}.get(f.type)
    return typed.cast(target or pl.String, strict=False), bad


def _to_float(raw: pl.Series) -> pl.Series:
    import polars as pl

    if raw.dtype == pl.String:
        return raw.str.strip_chars().cast(pl.Float64, strict=False)
    if raw.dtype == pl.Boolean:
        return pl.Series(raw.name, [None] * raw.len(), dtype=pl.Float64)
    return raw.cast(pl.Float64, strict=False)


def _to_bool(raw: pl.Series) -> pl.Series:
    import polars as pl

    if raw.dtype == pl.Boolean:
        return raw
    text = raw.cast(pl.String).str.strip_chars().str.to_lowercase()
    return text.replace_strict(_TRUTHY, default=None, return_dtype=pl.Boolean)


def _datetime_column(
    f: InputField, raw: pl.Series, validator: RecordValidator, reasons: dict[int, str]
) -> tuple[pl.Series, pl.Series]:
    """A datetime column as ``Datetime("us")``, naive or UTC like the training column."""
    import polars as pl

    # The record validator's rule: a dtype naming a zone was time-zone aware in training.
    zone = "UTC" if ("," in f.dtype or "UTC" in f.dtype) else None
    target = pl.Datetime("us", zone)
    dtype = raw.dtype
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        typed = raw.cast(pl.Datetime("us", getattr(dtype, "time_zone", None)))
        if typed.dtype.time_zone is not None:  # type: ignore[union-attr]
            typed = typed.dt.convert_time_zone("UTC").dt.replace_time_zone(zone)
        elif zone:  # naive values are UTC already
            typed = typed.dt.replace_time_zone(zone)
        return typed, pl.repeat(False, raw.len(), dtype=pl.Boolean, eager=True)
    if dtype == pl.String:
        iso = raw.str.contains(_ISO_TEXT).fill_null(False)
        text = raw.set(~iso, None)
        parsed = pl.coalesce(
            text.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)
            for fmt in _ISO_FORMATS
        )
        typed = pl.select(parsed).to_series()
        if zone:
            typed = typed.dt.replace_time_zone(zone)
    else:
        typed = pl.repeat(None, raw.len(), dtype=target, eager=True)
    # Everything else (offsets, other ISO shapes, invalid dates, other types) per value.
    todo = (raw.is_not_null() & typed.is_null()).arg_true()
    bad = pl.repeat(False, raw.len(), dtype=pl.Boolean, eager=True)
    if len(todo):
        rows = todo.to_list()
        columns, errors = validator.columns([{f.name: v} for v in raw.gather(todo).to_list()])
        failed = []
        for err in errors:
            if err.field == f.name:  # the other fields are absent from these records
                _add(reasons, rows[err.index], err.message.split(": ", 1)[-1])
                failed.append(rows[err.index])
        typed = typed.scatter(todo, pl.Series(columns[f.name], dtype=target))
        if failed:
            bad = bad.scatter(failed, True)
    return typed.alias(f.name), bad


def _check_values(f: InputField, typed: pl.Series, bad: pl.Series, reasons: dict[int, str]) -> None:
    """Null, NaN and category checks of one typed column, worded like the record validator.

    Values that already failed typing (``bad``) get no second reason for being null.
    """
    import polars as pl

    checks: list[tuple[pl.Series, Callable[[Any], str]]] = []
    if not f.nullable:
        checks.append(
            (
                typed.is_null() & ~bad,
                lambda _v: f"field {f.name!r} is null but is required ({f.type})",
            )
        )
    if f.type == "number":
        checks.append(
            (
                (typed.is_nan() | typed.is_infinite()).fill_null(False),
                lambda v: f"field {f.name!r}: {v} is not allowed (send null for a missing value)",
            )
        )
    if f.categories is not None:
        kind = {"string": str, "boolean": bool}.get(f.type, float)
        allowed = [c for c in f.categories if isinstance(c, kind) or kind is float]
        shown = ", ".join(str(c) for c in f.categories[:10])
        if len(f.categories) > 10:
            shown += f", … ({len(f.categories)} in all)"
        checks.append(
            (
                (
                    ~typed.is_in(pl.Series(allowed, dtype=typed.dtype, strict=False).implode())
                ).fill_null(False),
                lambda v: f"field {f.name!r}: unknown category {v!r} (allowed: {shown})",
            )
        )
    for mask, message in checks:
        rows = mask.arg_true()
        if len(rows):
            for i, value in zip(rows.to_list(), typed.gather(rows).to_list()):
                _add(reasons, i, message(value))
