"""Decide what kind of feature each column is: numeric, categorical, text or datetime.

Declared lists in the config win; the rest is detected from the data. A
kind whose list is declared is taken as complete: raw columns detected as
that kind but not listed are dropped (and reported), so ``numeric: [a, b]``
means exactly those two raw numeric columns (derived features still join).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from conveyor.config.models import FeaturesConfig
from conveyor.errors import ConfigError, DataError, ModelError
from conveyor.features._derived import DerivedFeature, kinds_of_frame, plan_derived
from conveyor.features._suggest import did_you_mean, preview

__all__ = ["KINDS", "ColumnTypes", "detect_column_types"]

log = logging.getLogger(__name__)

KINDS = ("numeric", "categorical", "text", "datetime")
MAX_CATEGORIES = 50  # strings with at most this many distinct values are categorical
TEXT_MIN_MEAN_LENGTH = 30  # free text is longer than this on average ...
TEXT_MIN_WORDS_SHARE = 0.5  # ... most values have several words ...
TEXT_MIN_DISTINCT_SHARE = 0.5  # ... and most values differ (or else they are categories)
ID_MIN_ROWS = 20  # below this, "every value unique" says nothing
DATETIME_SAMPLE = 500
DATETIME_MIN_PARSED = 0.95


@dataclass(frozen=True)
class ColumnTypes:
    """The feature kind of every column, and the columns left out with the reason.

    Attributes:
        numeric, categorical, text, datetime: column names by kind, in data order
            (derived features last).
        dropped: column -> why it is not a feature (``"constant"``, ``"all missing"``, ...).
        derived: the derived features, checked against the data, in config order.
        input_columns: every column of the data except the target.
        warnings: things the user should look at (also logged).
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)
    derived: tuple[DerivedFeature, ...] = ()
    input_columns: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        """All feature columns (raw and derived), by kind."""
        return self.numeric + self.categorical + self.text + self.datetime

    @property
    def derived_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.derived)

    def kind_of(self, column: str) -> str | None:
        """``numeric`` / ``categorical`` / ``text`` / ``datetime``, or None if not a feature."""
        for kind in KINDS:
            if column in getattr(self, kind):
                return kind
        return None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the kind lists, ``dropped`` (column -> reason), ``derived`` (name -> expression)."""
        return {
            **{kind: list(getattr(self, kind)) for kind in KINDS},
            "dropped": dict(self.dropped),
            "derived": {f.name: f.expr.text for f in self.derived},
        }

    def describe(self) -> list[str]:
        """Lines for the run output, e.g. ``numeric (9): tenure, monthly_charges, …``."""
        derived = set(self.derived_names)
        lines = []
        for kind in KINDS:
            names = getattr(self, kind)
            if names:
                shown = [f"{n} (derived)" if n in derived else n for n in names]
                lines.append(f"{kind} ({len(names)}): {preview(shown, limit=15)}")
        if self.dropped:
            shown = [f"{name} ({reason})" for name, reason in self.dropped.items()]
            lines.append(f"dropped ({len(self.dropped)}): {preview(shown, limit=15)}")
        return lines


def detect_column_types(
    frame: pl.DataFrame, *, target: str, id_column: str | None, config: FeaturesConfig
) -> ColumnTypes:
    """Sort the columns of ``frame`` into feature kinds.

    Detection rules for undeclared columns: booleans and numbers are numeric
    (unless constant, or unique consecutive integers like a row index); dates
    and datetimes, and strings that parse as such, are datetime; strings with
    at most 50 distinct values are categorical; long free text (mean length
    over 30 characters, mostly several words, mostly distinct values) is text;
    other strings whose every value is unique are id-like and dropped; the
    remaining strings are categorical (a warning flags more than 50 values).

    Raises:
        ConfigError: a declared, dropped or derived name is unknown or used twice.
        ModelError: a declared column is entirely missing.
        DataError: a declared column cannot hold its kind (text declared numeric).
    """
    columns = list(frame.columns)
    if target not in columns:
        raise ConfigError(
            f"target: there is no column '{target}' in the data{did_you_mean(target, columns)}"
        )
    if id_column is not None and id_column not in columns:
        raise ConfigError(
            f"id_column: there is no column '{id_column}' in the data{did_you_mean(id_column, columns)}"
        )
    inputs = [c for c in columns if c != target]
    # The id column is not handed to the preprocessor, so derived features cannot read it.
    not_inputs = [target] + ([id_column] if id_column is not None else [])
    derived = plan_derived(config.derived, kinds_of_frame(frame.drop(not_inputs)), target=target)
    derived_kinds = {f.name: f.role for f in derived}

    declared = _declared(config, inputs + list(derived_kinds), target=target, id_column=id_column)
    assigned: dict[str, str] = {}
    dropped: dict[str, str] = {}
    warnings: list[str] = []
    for column in config.drop:
        dropped[column] = "dropped in config"
    if id_column is not None:
        dropped[id_column] = "id column"

    for column, kind in declared.items():
        if column in derived_kinds:
            assigned[column] = _check_declared_derived(column, kind, derived_kinds[column])
        else:
            assigned[column] = _check_declared(frame.get_column(column), kind)

    for column in inputs + list(derived_kinds):
        if column in assigned or column in dropped:
            continue
        if column in derived_kinds:
            kind, reason = derived_kinds[column], None
        else:
            kind, reason = _detect(frame.get_column(column))
        # Derived features are defined to be used, so a declared list does not exclude them.
        if (
            kind is not None
            and column not in derived_kinds
            and _declared_list(config, kind) is not None
        ):
            kind, reason = None, f"detected as {kind}, but features.{kind} does not list it"
        if kind is None:
            dropped[column] = reason or "unusable"
            if reason in {"all missing", "constant"} or (reason or "").startswith("id-like"):
                warnings.append(f"column '{column}' dropped: {reason}")
            continue
        assigned[column] = kind
        if kind == "categorical" and column not in derived_kinds:
            distinct = frame.get_column(column).n_unique()
            if distinct > MAX_CATEGORIES:
                warnings.append(
                    f"column '{column}' is categorical with {distinct} distinct values; "
                    f"declare it as text or drop it if that is wrong"
                )

    for message in warnings:
        log.warning(message)
    order = {name: i for i, name in enumerate(inputs + list(derived_kinds))}
    by_kind = {
        kind: tuple(sorted((c for c, k in assigned.items() if k == kind), key=order.__getitem__))
        for kind in KINDS
    }
    return ColumnTypes(
        **by_kind,
        dropped=dropped,
        derived=tuple(derived),
        input_columns=tuple(inputs),
        warnings=tuple(warnings),
    )


def _declared_list(config: FeaturesConfig, kind: str) -> list[str] | None:
    return getattr(config, kind)


def _declared(
    config: FeaturesConfig, known: list[str], *, target: str, id_column: str | None
) -> dict[str, str]:
    declared: dict[str, str] = {}
    for i, column in enumerate(config.drop):
        if column not in known:
            raise ConfigError(
                f"features.drop[{i}]: there is no column '{column}' in the data{did_you_mean(column, known)}"
            )
    for kind in KINDS:
        for i, column in enumerate(_declared_list(config, kind) or []):
            key = f"features.{kind}[{i}]"
            if column == target:
                raise ConfigError(f"{key}: '{column}' is the target, it cannot also be a feature")
            if column not in known:
                raise ConfigError(
                    f"{key}: there is no column '{column}' in the data{did_you_mean(column, known)}"
                )
            if column in declared:
                raise ConfigError(f"{key}: '{column}' is already declared as {declared[column]}")
            if column in config.drop or column == id_column:
                where = "features.drop" if column in config.drop else "id_column"
                raise ConfigError(
                    f"{key}: '{column}' is also in {where}; remove it from one of them"
                )
            declared[column] = kind
    return declared


def _check_declared_derived(column: str, kind: str, role: str) -> str:
    allowed = {"numeric": {"numeric", "categorical"}, "categorical": {"categorical", "text"}}[role]
    if kind not in allowed:
        raise ConfigError(
            f"features.{kind}: derived feature '{column}' gives {role} values and cannot be {kind}"
        )
    return kind


def _check_declared(series: pl.Series, kind: str) -> str:
    column = series.name
    if series.null_count() == len(series):
        raise ModelError(
            f"features.{kind}: column '{column}' is missing in every row of the training data",
            hint="fix the source, fill it in 'clean', or remove it from the list",
        )
    dtype = series.dtype
    stringy = dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    example = series.drop_nulls().head(1).to_list()
    if kind == "numeric" and not (dtype.is_numeric() or dtype == pl.Boolean):
        raise DataError(
            f"features.numeric: column '{column}' holds {dtype} values such as {example[0]!r}, not numbers",
            hint="declare it under another kind, or convert it with a 'repair_types' clean step",
        )
    if kind == "text" and not stringy:
        raise DataError(f"features.text: column '{column}' holds {dtype} values, not text")
    if kind == "datetime" and not (
        dtype.is_temporal() or (stringy and _parses_as_datetime(series))
    ):
        raise DataError(
            f"features.datetime: column '{column}' holds {dtype} values such as {example[0]!r} "
            f"that do not parse as dates"
        )
    if kind == "categorical" and dtype.is_nested():
        raise DataError(f"features.categorical: column '{column}' holds {dtype} values")
    return kind


def _detect(series: pl.Series) -> tuple[str | None, str | None]:
    n = len(series)
    nulls = series.null_count()
    dtype = series.dtype
    if n == 0 or nulls == n:
        return None, "all missing"
    distinct = series.n_unique()
    if distinct == 1 and nulls == 0:
        return None, "constant"
    if dtype == pl.Boolean:
        return "numeric", None
    if dtype.is_numeric():
        if dtype.is_integer() and nulls == 0 and n >= ID_MIN_ROWS and distinct == n:
            low, high = series.min(), series.max()
            if high - low + 1 == n:  # type: ignore[operator]
                return None, "id-like: unique consecutive integers"
        return "numeric", None
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "datetime", None
    if not (dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical)):
        return None, f"unsupported type {dtype}"
    values = series.cast(pl.String).drop_nulls()
    present_distinct = values.n_unique()
    if present_distinct == 1:
        return "categorical", None  # one value plus missing: presence is the information
    if _parses_as_datetime(values):
        return "datetime", None
    mean_length = values.str.len_chars().mean() or 0.0
    has_words = values.str.contains(r"\s\S").mean() or 0.0
    mostly_distinct = present_distinct > TEXT_MIN_DISTINCT_SHARE * len(values)
    if mean_length > TEXT_MIN_MEAN_LENGTH and has_words >= TEXT_MIN_WORDS_SHARE and mostly_distinct:  # type: ignore[operator]
        return "text", None
    if present_distinct == len(values) and len(values) >= ID_MIN_ROWS:
        return None, "id-like: every value unique"
    return "categorical", None


def _parses_as_datetime(series: pl.Series) -> bool:
    values = series.cast(pl.String).drop_nulls().head(DATETIME_SAMPLE)
    if values.is_empty():
        return False
    looks = values.str.contains(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").mean() or 0.0
    if looks < DATETIME_MIN_PARSED:  # type: ignore[operator]
        return False
    try:
        parsed = values.str.to_datetime(strict=False)
    except pl.exceptions.PolarsError:
        return False
    return (1 - parsed.null_count() / len(values)) >= DATETIME_MIN_PARSED
