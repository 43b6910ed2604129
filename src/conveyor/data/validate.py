"""Check a frame against its :class:`DatasetSchema`; report, reject or fail.

All checks are polars expressions evaluated together, one boolean mask per
(check, column), so millions of rows take seconds and no row is looked at in
Python. What happens with offenders depends on ``validate.on_violation``:

- ``fail``: every check runs, then a :class:`SchemaError` lists each
  violation with its count and example rows;
- ``warn``: all rows are kept, the violations are reported;
- ``drop_rows``: rows that break a row-level check move to ``rejects`` with
  their original row number and reason (nothing is lost silently); checks on
  the whole dataset (extra columns, null-rate jumps) are reported only.

Column-level problems (a missing column, a column whose type cannot be read
as the schema's) always raise :class:`SchemaError`, whatever the mode.

Example:
    >>> import polars as pl
    >>> from conveyor.config.models import ValidateConfig
    >>> from conveyor.data.schema import infer_schema
    >>> cfg = ValidateConfig(on_violation="drop_rows")
    >>> schema = infer_schema(pl.DataFrame({"x": [1, 2, 3]}), target=None, id_column=None, config=cfg)
    >>> result = validate_frame(pl.DataFrame({"x": [2, 9]}), schema, cfg)
    >>> result.rejects["__reason"].to_list()
    ['out_of_range(x)']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from conveyor.config.models import ValidateConfig
from conveyor.data._columns import column_list, is_missing
from conveyor.data._validate_cast import ColumnCast, plan_cast
from conveyor.data._validate_rows import (
    FAILED,
    MAX_EXAMPLES,
    REASON,
    ROW,
    Violation,
    ViolationKind,
    example_rows,
    row_checks,
    row_violation,
)
from conveyor.data.schema import ColumnSchema, DatasetSchema
from conveyor.errors import SchemaError

__all__ = ["ValidationResult", "Violation", "ViolationKind", "validate_frame"]


@dataclass(frozen=True)
class ValidationResult:
    """Rows kept (cast to the schema's types), rows rejected, and what was found."""

    frame: pl.DataFrame
    rejects: pl.DataFrame
    violations: list[Violation]
    report: dict[str, Any]

    @property
    def passed(self) -> bool:
        return not self.violations


def validate_frame(
    frame: pl.DataFrame, schema: DatasetSchema, config: ValidateConfig
) -> ValidationResult:
    """Check ``frame`` against ``schema`` as ``config`` says.

    Returns the kept rows with every schema column cast to its schema type,
    the rejected rows (original values plus ``__row`` and ``__reason``), the
    violations and a JSON-able report.

    Raises:
        SchemaError: a column is missing or unreadable as its type (always), or
            any violation when ``on_violation`` is ``fail``.
    """
    if not config.enabled:
        return ValidationResult(
            frame, _empty_rejects(frame), [], {"enabled": False, "rows": frame.height}
        )
    checked = [c for c in schema.columns if c.role != "ignore"]
    casts = {
        c.name: plan_cast(c.name, frame.schema[c.name], c.dtype)
        for c in checked
        if c.name in frame.columns
    }
    _fail_on_column_problems(frame, checked, casts)

    fails = [c.failed.alias(FAILED + n) for n, c in casts.items() if c.failed is not None]
    work = frame.with_columns([*(c.value for c in casts.values() if c.value is not None), *fails])
    typed = work.drop([FAILED + n for n, c in casts.items() if c.failed is not None])
    checks = row_checks(checked, casts, typed.schema, config)
    masks = work.select([chk.mask.fill_null(False).alias(chk.key) for chk in checks])
    counts = masks.sum().row(0, named=True) if checks else {}

    violations = _extra_columns(frame, schema, config)
    for chk in checks:
        if counts[chk.key]:
            violations.append(row_violation(chk, counts[chk.key], masks, frame, typed, config))
    violations += _null_rate_jumps(work, checked, casts, config)
    violations.sort(key=_order(schema))

    mode = config.on_violation
    if mode == "fail" and violations:
        raise _schema_error(violations, frame.height, config)
    hit = [chk.key for chk in checks if counts[chk.key]]
    if mode == "drop_rows" and hit:
        offender = masks.select(pl.any_horizontal(hit)).to_series()
        reasons = masks.select(
            pl.concat_str(
                [pl.when(pl.col(k)).then(pl.lit(k)) for k in hit], separator="; ", ignore_nulls=True
            )
        ).to_series()
        rejects = (
            frame.with_row_index(ROW)
            .with_columns(pl.col(ROW).cast(pl.Int64), reasons.alias(REASON))
            .filter(offender)
        )
        kept = typed.filter(~offender)
    else:
        rejects, kept = _empty_rejects(frame), typed
    report = {
        "enabled": True,
        "mode": mode,
        "rows": frame.height,
        "rows_kept": kept.height,
        "rows_rejected": rejects.height,
        "passed": not violations,
        "counts": {
            v.kind: sum(x.count for x in violations if x.kind == v.kind) for v in violations
        },
        "violations": [v.to_dict() for v in violations],
    }
    return ValidationResult(frame=kept, rejects=rejects, violations=violations, report=report)


# ---------------------------------------------------------------- column level


def _fail_on_column_problems(
    frame: pl.DataFrame, checked: list[ColumnSchema], casts: dict[str, ColumnCast]
) -> None:
    fatal: list[Violation] = []
    for col in checked:
        if col.name not in frame.columns:
            fatal.append(
                Violation(
                    "missing_column",
                    col.name,
                    frame.height,
                    f"column '{col.name}' ({col.dtype}) is missing; the data has: "
                    f"{column_list(frame.columns)}",
                )
            )
    for name, cast in casts.items():
        if cast.problem:
            fatal.append(
                Violation(
                    "type_mismatch",
                    name,
                    frame.height,
                    f"column '{name}' should be {cast.expected} but {cast.problem}",
                    example_rows(frame, frame[name].is_not_null().arg_true().head(MAX_EXAMPLES)),
                )
            )
    readable = {n: c for n, c in casts.items() if c.failed is not None}
    if readable:
        stats = frame.select(
            [c.failed.sum().alias(f"f{n}") for n, c in readable.items()]
            + [c.present.sum().alias(f"p{n}") for n, c in readable.items() if c.present is not None]
        ).row(0, named=True)
        for name, cast in readable.items():
            bad, present = stats[f"f{name}"], stats[f"p{name}"]
            if present and bad == present:
                rows = frame.select(cast.failed.arg_true().head(MAX_EXAMPLES)).to_series()
                sample = ", ".join(repr(v) for v in frame[name].gather(rows).to_list())
                fatal.append(
                    Violation(
                        "type_mismatch",
                        name,
                        bad,
                        f"column '{name}' should be {cast.expected} but none of its {present} values can be "
                        f"read as {cast.expected} (got {cast.got}, e.g. {sample})",
                        example_rows(frame, rows),
                    )
                )
    if fatal:
        lines = "\n".join(f"  - {v.kind} {v.column}: {v.message}" for v in fatal)
        err = SchemaError(
            f"validate: the data does not fit the schema ({len(fatal)} column problem"
            f"{'s' if len(fatal) > 1 else ''})\n{lines}",
            hint="fix the source, repair types in the clean section, mark the column 'role: ignore' "
            "in schema.yaml, or delete schema.yaml to infer it again",
        )
        err.violations = fatal  # type: ignore[attr-defined]
        raise err


def _extra_columns(
    frame: pl.DataFrame, schema: DatasetSchema, config: ValidateConfig
) -> list[Violation]:
    if config.allow_extra_columns:
        return []
    known = set(schema.names)
    return [
        Violation(
            "extra_column",
            name,
            frame.height,
            f"column '{name}' is not in the schema (allow it with validate.allow_extra_columns: "
            "true, or add it to schema.yaml)",
        )
        for name in frame.columns
        if name not in known
    ]


def _null_rate_jumps(
    work: pl.DataFrame,
    checked: list[ColumnSchema],
    casts: dict[str, ColumnCast],
    config: ValidateConfig,
) -> list[Violation]:
    # Non-nullable columns are covered row by row by null_in_required.
    cols = [c for c in checked if c.name in casts and c.nullable]
    if not cols or work.height == 0:
        return []

    def missing_before_cast(name: str) -> pl.Expr:
        # Values that failed to cast are type mismatches, not missing values.
        expr = is_missing(name, work.schema[name])
        return expr & ~pl.col(FAILED + name) if casts[name].failed is not None else expr

    missing = work.select([missing_before_cast(c.name).sum() for c in cols]).row(0)
    out = []
    for col, n in zip(cols, missing):
        rate = n / work.height
        if rate > col.null_rate + config.null_rate_tolerance:
            out.append(
                Violation(
                    "null_rate_jump",
                    col.name,
                    n,
                    f"column '{col.name}': {rate:.1%} of rows are missing, above the schema's "
                    f"{col.null_rate:.1%} + tolerance {config.null_rate_tolerance:.1%}",
                )
            )
    return out


# ---------------------------------------------------------------- results


def _empty_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.head(0).with_columns(
        pl.lit(None, pl.Int64).alias(ROW), pl.lit(None, pl.String).alias(REASON)
    )


_KIND_ORDER = [
    "missing_column",
    "extra_column",
    "type_mismatch",
    "null_in_required",
    "null_rate_jump",
    "out_of_range",
    "unseen_category",
    "duplicate_id",
]


def _order(schema: DatasetSchema) -> Any:
    position = {n: i for i, n in enumerate(schema.names)}
    return lambda v: (position.get(v.column or "", len(position)), _KIND_ORDER.index(v.kind))


def _schema_error(violations: list[Violation], rows: int, config: ValidateConfig) -> SchemaError:
    lines = "\n".join(f"  - {v.kind}: {v.message}" for v in violations)
    total = len(violations)
    err = SchemaError(
        f"validate: {total} violation{'s' if total > 1 else ''} in {rows} rows "
        f"(validate.on_violation: {config.on_violation})\n{lines}",
        hint="fix the data, edit schema.yaml (add a category, widen a range), or set "
        "validate.on_violation to 'drop_rows' (offending rows go to rejects) or 'warn'",
    )
    err.violations = violations  # type: ignore[attr-defined]
    return err
