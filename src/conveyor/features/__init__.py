"""Features: from the config and the data to a fitted scikit-learn preprocessor.

- :func:`detect_column_types` sorts columns into numeric / categorical / text /
  datetime (declared lists win) and checks derived-feature expressions;
- :func:`build_preprocessor` turns the config and those types into an
  unfitted ``Pipeline`` (derived features, then a ``ColumnTransformer``);
- :func:`parse_expression` is the safe expression language shared with
  serving fallbacks and monitoring triggers.

Names are imported lazily so that the expression language can be used
without loading scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor._lazy import lazy_exports

if TYPE_CHECKING:
    from conveyor.features._build import (
        build_preprocessor,
        feature_names,
        may_be_sparse,
        to_model_frame,
    )
    from conveyor.features._datetime import DatetimeParts
    from conveyor.features._derived import DerivedFeature, DerivedFeatures, plan_derived
    from conveyor.features._detect import ColumnTypes, detect_column_types
    from conveyor.features._skops import TRUSTED_TYPES
    from conveyor.features._transformers import (
        CategoryStrings,
        HashingEncoder,
        Log1pClipped,
        TextColumn,
        ToFloat,
    )
    from conveyor.features.expressions import Expr, parse_expression

__all__ = [
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
]

_HOME = {
    "build_preprocessor": "_build",
    "feature_names": "_build",
    "may_be_sparse": "_build",
    "required_columns": "_build",
    "to_model_frame": "_build",
    "DatetimeParts": "_datetime",
    "DerivedFeature": "_derived",
    "DerivedFeatures": "_derived",
    "plan_derived": "_derived",
    "ColumnTypes": "_detect",
    "detect_column_types": "_detect",
    "TRUSTED_TYPES": "_skops",
    "CategoryStrings": "_transformers",
    "HashingEncoder": "_transformers",
    "Log1pClipped": "_transformers",
    "TextColumn": "_transformers",
    "ToFloat": "_transformers",
    "Expr": "expressions",
    "parse_expression": "expressions",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOME)
