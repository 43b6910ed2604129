"""Per-column feature options: the defaults of the column's kind, merged with its overrides."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from conveyor.config.models import (
    CategoricalFeatures,
    DatetimeFeatures,
    FeaturesConfig,
    NumericFeatures,
    TextFeatures,
)
from conveyor.errors import ConfigError
from conveyor.features._detect import ColumnTypes
from conveyor.features._suggest import did_you_mean

__all__ = ["ColumnOptions", "resolve_options"]

ColumnOptions = NumericFeatures | CategoricalFeatures | TextFeatures | DatetimeFeatures


def defaults_for(config: FeaturesConfig, kind: str) -> ColumnOptions:
    return {
        "numeric": config.numeric_options,
        "categorical": config.categorical_options,
        "text": config.text_options,
        "datetime": config.datetime_options,
    }[kind]


def resolve_options(config: FeaturesConfig, types: ColumnTypes) -> dict[str, ColumnOptions]:
    """Options for every feature column: its kind's defaults, updated by ``per_column``.

    Raises:
        ConfigError: naming ``features.per_column.<col>`` or ``.<col>.<key>`` for an
            unknown or dropped column, an option its kind does not have, or a bad value.
    """
    resolved: dict[str, ColumnOptions] = {}
    for column in types.features:
        kind = types.kind_of(column)
        assert kind is not None
        resolved[column] = defaults_for(config, kind)
    for column, overrides in config.per_column.items():
        key = f"features.per_column.{column}"
        kind = types.kind_of(column)
        if kind is None:
            if column in types.dropped:
                raise ConfigError(
                    f"{key}: column '{column}' is not a feature ({types.dropped[column]})",
                    hint="declare its kind under features.numeric / categorical / text / datetime",
                )
            known = list(types.input_columns) + list(types.derived_names)
            raise ConfigError(
                f"{key}: there is no column '{column}' in the data{did_you_mean(column, known)}"
            )
        if not isinstance(overrides, dict):
            raise ConfigError(
                f"{key}: expected a mapping of option -> value, got {type(overrides).__name__}"
            )
        resolved[column] = _merge(resolved[column], overrides, key=key, kind=kind)
    return resolved


def _merge(defaults: BaseModel, overrides: dict[str, Any], *, key: str, kind: str) -> Any:
    model = type(defaults)
    fields = list(model.model_fields)
    for name in overrides:
        if name not in model.model_fields:
            raise ConfigError(
                f"{key}.{name}: '{name}' is not an option of {kind} columns{did_you_mean(name, fields)}",
                hint=f"{kind} options: {', '.join(fields)}",
            )
    try:
        return model.model_validate({**defaults.model_dump(), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{key}.{where}: {first['msg']} (got {first.get('input')!r})") from exc
