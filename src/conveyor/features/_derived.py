"""Derived features: new columns computed by safe expressions, fitted and shipped in the bundle."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from conveyor.errors import ConfigError, DataError
from conveyor.features._expr_lexer import expression_error
from conveyor.features._expr_scalar import normalise_scalar
from conveyor.features.expressions import Expr, kind_of_dtype, parse_expression

__all__ = ["DerivedFeature", "DerivedFeatures", "plan_derived"]

_USABLE = {"number": "numeric", "bool": "numeric", "string": "categorical"}


@dataclass(frozen=True)
class DerivedFeature:
    """One checked derived feature: its name, parsed expression and result kind."""

    name: str
    expr: Expr
    kind: str  # number | bool | string

    @property
    def role(self) -> str:
        """How the feature is encoded downstream: ``numeric`` or ``categorical``."""
        return _USABLE[self.kind]


def plan_derived(
    expressions: Mapping[str, str],
    kinds: Mapping[str, str],
    *,
    target: str | None = None,
    key: str = "features.derived",
) -> list[DerivedFeature]:
    """Parse and check derived-feature expressions in order.

    A feature may use the input columns (``kinds``: column -> kind, see
    :func:`~conveyor.features.expressions.kind_of_dtype`) and the features
    defined before it, never the target.

    Raises:
        ConfigError: on a bad name, a syntax or type error, an unknown column or
            a use of the target; the message names ``<key>.<name>``.
    """
    available = dict(kinds)
    plan: list[DerivedFeature] = []
    for name, text in expressions.items():
        source = f"{key}.{name}"
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{key}: a derived feature needs a non-empty name, got {name!r}")
        if name in available or name == target:
            raise ConfigError(
                f"{source}: '{name}' is already a column of the data",
                hint="give the derived feature a new name",
            )
        expr = parse_expression(text, source=source)
        if target is not None and target in expr.columns:
            raise expression_error(
                expr.text,
                expr.position(target),
                f"uses the target column '{target}'",
                source=source,
                hint="a feature computed from the label leaks it into training and does not exist when serving",
            )
        expr.check_columns(available, source=source)
        kind = expr.check_types(available, source=source)
        if kind not in _USABLE:
            problem = "is always null" if kind == "null" else f"gives values of kind '{kind}'"
            raise ConfigError(
                f"{source}: expression {text!r} {problem}; a derived feature must be a number, true/false or text"
            )
        plan.append(DerivedFeature(name, expr, kind))
        available[name] = kind
    return plan


def kinds_of_frame(frame: pl.DataFrame | pl.LazyFrame) -> dict[str, str]:
    """Expression kinds of every column of a Polars frame."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    return {name: kind_of_dtype(dtype) for name, dtype in schema.items()}


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Add derived columns to a pandas frame: ``{"rate": "total / (tenure + 1)"}``.

    ``fit`` parses and checks every expression against the training columns
    and remembers the kinds of the columns they read; ``transform`` casts those
    columns to the same kinds before evaluating, so one record and a batch get
    identical values. The parsed expressions are rebuilt from text after
    unpickling (nothing compiled is persisted).

    Args:
        expressions: new column name -> expression (see
            :mod:`conveyor.features.expressions`); applied in order.
    """

    def __init__(self, expressions: dict[str, str] | None = None) -> None:
        self.expressions = expressions

    def fit(self, X: pd.DataFrame, y: Any = None) -> DerivedFeatures:
        frame = _require_frame(X)
        names = [str(c) for c in frame.columns]
        expressions = dict(self.expressions or {})
        referenced = _referenced(expressions, names)
        kinds = {name: "any" for name in names}
        kinds.update(kinds_of_frame(_to_polars(frame, referenced, {})))
        plan = plan_derived(expressions, kinds)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.input_kinds_ = {c: kinds[c] for c in referenced}
        self.output_kinds_ = {f.name: f.kind for f in plan}
        self._plan = plan
        return self

    def onnx_passthrough(self) -> str | None:
        """With no expressions this step is the identity, so ONNX export may drop it."""
        return "any" if not self.expressions else None

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "output_kinds_")
        frame = _require_frame(X)
        if not self.output_kinds_:
            return frame
        missing = [c for c in self.input_kinds_ if c not in frame.columns]
        if missing:
            raise DataError(
                f"derived features need column(s) {', '.join(map(repr, missing))}, which the input lacks"
            )
        data = _to_polars(frame, list(self.input_kinds_), self.input_kinds_)
        kinds = dict(self.input_kinds_)
        for feature in self._compiled():
            try:
                data = data.with_columns(feature.expr.to_polars(kinds).alias(feature.name))
            except pl.exceptions.PolarsError as exc:
                raise DataError(
                    f"derived feature '{feature.name}' ({feature.expr.text!r}) failed: {str(exc).splitlines()[0]}"
                ) from exc
            kinds[feature.name] = feature.kind
        new = {}
        for name, kind in self.output_kinds_.items():
            series = data.get_column(name)
            if kind == "string":
                new[name] = series.cast(pl.String).to_numpy()
            else:
                new[name] = series.cast(pl.Float64).to_numpy()
        return frame.assign(**new)

    def transform_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """One record (column -> value) with the derived values added, without pandas or Polars.

        Gives the values :meth:`transform` gives for the same row (numbers and
        true/false as floats, missing as NaN; text as ``str`` or ``None``) in
        microseconds, for serving paths that skip the pipeline (e.g. ONNX).

        Raises:
            DataError: a value cannot be read as the kind its column had in training.
        """
        check_is_fitted(self, "output_kinds_")
        scope = {
            column: _cast(record.get(column), kind, column)
            for column, kind in self.input_kinds_.items()
        }
        out = dict(record)
        for feature in self._compiled():
            value = feature.expr.evaluate(scope)
            scope[feature.name] = value
            if feature.kind == "string":
                out[feature.name] = value
            else:
                out[feature.name] = math.nan if value is None else float(value)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "output_kinds_")
        names = list(self.feature_names_in_ if input_features is None else input_features)
        return np.asarray(names + list(self.output_kinds_), dtype=object)

    def _compiled(self) -> list[DerivedFeature]:
        plan = getattr(self, "_plan", None)
        if plan is None:
            # After unpickling: the text was saved, the parsed form is rebuilt (and re-checked).
            plan = plan_derived(dict(self.expressions or {}), self.input_kinds_)
            self._plan = plan
        return plan

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_plan", None)
        return state


def _cast(value: Any, kind: str, column: str) -> Any:
    """A raw value as :func:`_to_polars` would cast it (NaN from pandas is missing)."""
    value = normalise_scalar(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "number":
        if isinstance(value, bool | int | float):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"derived features: column '{column}' must be a number, got {value!r}"
            ) from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise DataError(f"derived features: column '{column}' must be true or false, got {value!r}")
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)
    return value


def _require_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    raise DataError(
        f"derived features need a pandas DataFrame with named columns, got {type(X).__name__}"
    )


def _referenced(expressions: Mapping[str, str], names: Sequence[str]) -> list[str]:
    """Input columns the expressions read (parsing errors surface later, in plan_derived)."""
    wanted: set[str] = set()
    for name, text in expressions.items():
        try:
            wanted |= parse_expression(text, source=f"features.derived.{name}").columns
        except ConfigError:
            continue
    present = set(names)
    return [c for c in names if c in wanted and c in present]


def _to_polars(
    frame: pd.DataFrame, columns: Sequence[str], kinds: Mapping[str, str]
) -> pl.DataFrame:
    """The named columns of ``frame`` as Polars, each cast to its fitted kind."""
    if not columns:
        # Expressions of constants still need one value per row.
        return pl.DataFrame({"__rows__": np.zeros(len(frame))})
    subset = frame[list(columns)]
    try:
        data = pl.from_pandas(subset)
    except Exception:  # object columns mixing types: let Polars infer from Python values
        data = pl.DataFrame({c: pl.Series(c, subset[c].tolist(), strict=False) for c in columns})
    casts = []
    for column in columns:
        target = {"number": pl.Float64, "bool": pl.Boolean, "string": pl.String}.get(
            kinds.get(column, "")
        )
        if target is not None and data.schema[column] != target:
            casts.append(pl.col(column).cast(target))
    if casts:
        try:
            data = data.with_columns(casts)
        except pl.exceptions.PolarsError as exc:
            raise DataError(
                f"derived features: a column does not have the type seen in training: {str(exc).splitlines()[0]}"
            ) from exc
    return data
