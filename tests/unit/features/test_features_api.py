"""The public API of conveyor.features: exactly these names, each importable."""

from __future__ import annotations

import pytest

import conveyor.features as features

EXPECTED = {
    "TRUSTED_TYPES",
    "CategoryStrings",
    "ColumnTypes",
    "DatetimeParts",
    "DerivedFeature",
    "DerivedFeatures",
    "Expr",
    "HashingEncoder",
    "Log1pClipped",
    "TextColumn",
    "ToFloat",
    "build_preprocessor",
    "detect_column_types",
    "feature_names",
    "may_be_sparse",
    "parse_expression",
    "plan_derived",
    "required_columns",
    "to_model_frame",
}


def test_public_names() -> None:
    assert set(features.__all__) == EXPECTED
    for name in features.__all__:
        assert getattr(features, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        features.nope  # noqa: B018
