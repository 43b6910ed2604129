"""The dataset schema: what each column is, inferred once and checked on every run.

The schema is written as ``schema.yaml`` beside ``conveyor.yaml`` so that a
person can read and edit it (allow a new category, widen a range, mark a
column as ignored). :func:`infer_schema` builds it from a frame;
:mod:`conveyor.data.validate` checks later frames against it.

Example:
    >>> import polars as pl
    >>> from conveyor.config.models import ValidateConfig
    >>> frame = pl.DataFrame({"plan": ["a", "b", "a"], "spend": [1.0, 2.5, None]})
    >>> schema = infer_schema(frame, target="plan", id_column=None, config=ValidateConfig())
    >>> schema.column("spend").nullable
    True
    >>> DatasetSchema.from_yaml(schema.to_yaml()) == schema
    True
"""

from __future__ import annotations

import math
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from conveyor.config.models import ValidateConfig
from conveyor.data._columns import column_list, dtype_kind, is_missing, nearest_name
from conveyor.data._schema_yaml import dump_schema_yaml, format_schema_errors, load_yaml_with_lines
from conveyor.errors import ConfigError, DataError, SchemaError

__all__ = ["FORMAT_VERSION", "ColumnSchema", "DatasetSchema", "infer_schema"]

FORMAT_VERSION = 1
"""The newest schema file format this code reads and writes."""

Dtype = Literal["int", "float", "bool", "str", "category", "text", "date", "datetime"]
Role = Literal["feature", "target", "id", "ignore"]

# A high-cardinality string column whose values average this many characters or
# more is free text (reviews, notes) rather than a short code (names, zip codes).
TEXT_MIN_MEAN_LENGTH = 20
# Shares are rounded so that the file stays readable; 6 places keep 1-in-a-million.
SHARE_DIGITS = 6


class ColumnSchema(BaseModel):
    """One column: its type, role and the values seen when the schema was made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    dtype: Dtype
    nullable: bool = True
    null_rate: float = Field(default=0.0, ge=0, le=1)
    min: float | None = None
    max: float | None = None
    categories: dict[str, float] | None = None
    """Allowed values -> the share of non-missing rows that had each."""
    unique: bool = False
    role: Role = "feature"

    @model_validator(mode="after")
    def _check(self) -> ColumnSchema:
        if (self.min is not None or self.max is not None) and self.dtype not in ("int", "float"):
            raise ValueError(f"min/max apply to int and float columns, not {self.dtype}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        if self.categories is not None:
            if self.dtype != "category":
                raise ValueError(f"categories apply to dtype 'category', not '{self.dtype}'")
            bad = [k for k, v in self.categories.items() if not 0 <= v <= 1]
            if bad:
                raise ValueError(f"category shares must be within [0, 1]; see {bad[:3]}")
        return self


class DatasetSchema(BaseModel):
    """The columns of a dataset, plus which one is the target and which the id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int = FORMAT_VERSION
    rows: int = Field(default=0, ge=0)
    target: str | None = None
    id_column: str | None = None
    columns: list[ColumnSchema]

    @model_validator(mode="after")
    def _check(self) -> DatasetSchema:
        if self.format_version > FORMAT_VERSION or self.format_version < 1:
            raise ValueError(
                f"format_version {self.format_version} is not one this Conveyor reads "
                f"(1..{FORMAT_VERSION}); upgrade conveyor or re-infer the schema"
            )
        names = [c.name for c in self.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"column names must be unique; repeated: {repeated}")
        for key, role in (("target", "target"), ("id_column", "id")):
            name = getattr(self, key)
            if name is None:
                continue
            if name not in names:
                raise ValueError(f"{key} '{name}' is not one of the columns: {column_list(names)}")
            if self.column(name).role != role:
                raise ValueError(f"{key} '{name}' must have role '{role}'")
        for col in self.columns:
            if col.role == "target" and col.name != self.target:
                raise ValueError(
                    f"column '{col.name}' has role 'target' but target is {self.target!r}"
                )
            if col.role == "id" and col.name != self.id_column:
                raise ValueError(
                    f"column '{col.name}' has role 'id' but id_column is {self.id_column!r}"
                )
        return self

    @property
    def names(self) -> list[str]:
        """Column names in schema order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        """The column called ``name``.

        Raises:
            SchemaError: no such column (the message lists the columns).
        """
        for col in self.columns:
            if col.name == name:
                return col
        guess = nearest_name(name, self.names)
        raise SchemaError(
            f"schema has no column '{name}'; columns are: {column_list(self.names)}",
            hint=f"did you mean '{guess}'?" if guess else None,
        )

    def to_yaml(self) -> str:
        """The schema as commented, hand-editable YAML (``from_yaml`` reads it back exactly)."""
        data = self.model_dump(mode="python")
        order = [
            "name",
            "dtype",
            "role",
            "nullable",
            "null_rate",
            "min",
            "max",
            "unique",
            "categories",
        ]
        data["columns"] = [_readable(col, order) for col in data["columns"]]
        return dump_schema_yaml(
            {k: data[k] for k in ("format_version", "rows", "target", "id_column", "columns")}
        )

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "schema.yaml") -> DatasetSchema:
        """Read a schema file's text.

        Raises:
            ConfigError: malformed YAML or an invalid entry, naming ``source``,
                the line, the key path and the column.
        """
        data, lines = load_yaml_with_lines(text, source)
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source}:1: expected a mapping with 'columns', got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            message = format_schema_errors(
                exc,
                source=source,
                lines=lines,
                data=data,
                models={"": cls, "columns": ColumnSchema},
            )
            hint = None
            if "categories" in message:
                hint = "quote category values that YAML reads as booleans or numbers ('yes': 0.5)"
            raise ConfigError(message, hint=hint) from None


def _readable(col: dict[str, object], order: list[str]) -> dict[str, object]:
    """Keys in a fixed order, leaving out those that cannot apply to the dtype."""
    skip = set()
    if col["dtype"] not in ("int", "float"):
        skip |= {"min", "max"}
    if col["dtype"] != "category":
        skip.add("categories")
    return {k: col[k] for k in order if k not in skip}


def infer_schema(
    frame: pl.DataFrame,
    *,
    target: str | None,
    id_column: str | None,
    config: ValidateConfig,
) -> DatasetSchema:
    """Describe ``frame``: types, nullability, ranges, categories, roles.

    Text is not re-typed here (that is ``clean``'s ``repair_types``): a string
    column is ``category`` when it has at most ``config.max_categories``
    distinct values, otherwise ``text`` if its values are long and ``str`` if
    short. The id column is ``unique`` (duplicates become violations when the
    data is validated) and never a category; a string target always is one.

    Raises:
        DataError: ``target`` or ``id_column`` is not a column, or a column
            has a type a schema cannot describe (lists, structs, binary).
    """
    for key, name in (("target", target), ("id_column", id_column)):
        if name is not None and name not in frame.columns:
            guess = nearest_name(name, frame.columns)
            raise DataError(
                f"{key} '{name}' is not a column of the data; columns are: {column_list(frame.columns)}",
                hint=f"did you mean '{guess}'?" if guess else f"set '{key}' in conveyor.yaml",
            )
    rows = frame.height
    kinds = {name: dtype_kind(dtype) for name, dtype in frame.schema.items()}
    odd = [f"{n} ({frame.schema[n]})" for n, k in kinds.items() if k == "other"]
    if odd:
        raise DataError(
            f"cannot describe column(s) {', '.join(odd)} in a schema: supported types are "
            "numbers, booleans, text, dates and datetimes",
            hint="add a drop_columns op to the clean section for them",
        )
    stats = _column_stats(frame, kinds)
    columns = []
    for name in frame.columns:
        role: Role = "target" if name == target else "id" if name == id_column else "feature"
        dtype = _schema_dtype(kinds[name], stats[name], role, config.max_categories)
        columns.append(_column(frame, name, dtype, role, stats[name], rows))
    return DatasetSchema(rows=rows, target=target, id_column=id_column, columns=columns)


def _column_stats(frame: pl.DataFrame, kinds: dict[str, str]) -> dict[str, dict[str, float]]:
    exprs: list[pl.Expr] = []
    for name, kind in kinds.items():
        dtype = frame.schema[name]
        exprs.append(is_missing(name, dtype).sum().alias(f"{name}\x00missing"))
        if kind in ("int", "float"):
            values = pl.col(name).cast(pl.Float64)
            values = values.filter(values.is_finite()) if kind == "float" else values
            exprs += [values.min().alias(f"{name}\x00min"), values.max().alias(f"{name}\x00max")]
        if kind == "str":
            text = pl.col(name).cast(pl.String)
            exprs += [
                text.drop_nulls().n_unique().alias(f"{name}\x00distinct"),
                text.str.len_chars().mean().alias(f"{name}\x00mean_len"),
            ]
    out: dict[str, dict[str, float]] = {name: {} for name in kinds}
    if not exprs:
        return out
    for key, value in frame.select(exprs).row(0, named=True).items():
        name, _, stat = key.partition("\x00")
        out[name][stat] = value
    return out


def _schema_dtype(kind: str, stats: dict[str, float], role: Role, max_categories: int) -> Dtype:
    if kind in ("int", "float", "bool", "date", "datetime"):
        return kind  # type: ignore[return-value]
    if kind == "null":
        return "str"
    if role == "id":
        return "str"
    if role == "target" or stats["distinct"] <= max_categories:
        return "category"
    mean_len = stats.get("mean_len") or 0.0
    return "text" if mean_len >= TEXT_MIN_MEAN_LENGTH else "str"


def _column(
    frame: pl.DataFrame, name: str, dtype: Dtype, role: Role, stats: dict[str, float], rows: int
) -> ColumnSchema:
    missing = int(stats["missing"])
    # Ids grow over time: a range learnt from today's ids would reject tomorrow's.
    low = stats.get("min") if role != "id" else None
    high = stats.get("max") if role != "id" else None
    categories = None
    if dtype == "category":
        counts = (
            frame.select(pl.col(name).cast(pl.String).drop_nulls().value_counts(name="n"))
            .unnest(name)
            .sort(["n", name], descending=[True, False])
        )
        present = max(rows - missing, 1)
        categories = {v: round(n / present, SHARE_DIGITS) for v, n in counts.iter_rows()}
    return ColumnSchema(
        name=name,
        dtype=dtype,
        nullable=missing > 0,
        null_rate=round(missing / rows, SHARE_DIGITS) if rows else 0.0,
        min=_finite(low),
        max=_finite(high),
        categories=categories,
        unique=role == "id",
        role=role,
    )


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
