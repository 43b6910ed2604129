"""Build the scikit-learn preprocessing pipeline from the features config and the column types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from conveyor.config.models import (
    CategoricalFeatures,
    DatetimeFeatures,
    FeaturesConfig,
    NumericFeatures,
    TextFeatures,
)
from conveyor.errors import ConfigError, ModelError
from conveyor.features._custom import load_user_transformer
from conveyor.features._datetime import DatetimeParts
from conveyor.features._derived import DerivedFeatures
from conveyor.features._detect import ColumnTypes
from conveyor.features._options import ColumnOptions, defaults_for, resolve_options
from conveyor.features._transformers import (
    CategoryStrings,
    HashingEncoder,
    Log1pClipped,
    TextColumn,
    ToFloat,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = [
    "build_preprocessor",
    "feature_names",
    "may_be_sparse",
    "required_columns",
    "to_model_frame",
]

TASKS = ("binary", "multiclass", "regression")
_TARGET_TYPES = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}


def to_model_frame(frame: pl.DataFrame) -> pd.DataFrame:
    """The Polars frame as the pandas frame the preprocessor takes (the one conversion point)."""
    return frame.to_pandas()


def required_columns(config: FeaturesConfig, types: ColumnTypes) -> list[str]:
    """The raw input columns the preprocessor reads, in data order.

    That is the raw feature columns plus the columns derived features, user
    transformers and datetime age references read (which may be columns that
    are not features themselves). Request validation and the bundle signature
    should ask for exactly these.
    """
    wanted = {c for c in types.features if c not in set(types.derived_names)}
    for feature in types.derived:
        wanted |= feature.expr.columns
    for spec in config.custom:
        wanted |= set(spec.columns)
    options = resolve_options(config, types)
    wanted |= {
        o.age_reference
        for o in options.values()
        if isinstance(o, DatetimeFeatures) and o.age_reference
    }
    if config.datetime_options.age_reference and types.datetime:
        wanted.add(config.datetime_options.age_reference)
    return [c for c in types.input_columns if c in wanted]


def may_be_sparse(types: ColumnTypes, config: FeaturesConfig | None = None) -> bool:
    """Whether the preprocessor can output a sparse matrix (it can when there is text).

    Estimators that need dense input (e.g. HistGradientBoosting) should get a
    preprocessor built with ``dense=True``.
    """
    if config is not None and config.sparse_threshold == 0:
        return False
    return bool(types.text)


def build_preprocessor(
    config: FeaturesConfig,
    types: ColumnTypes,
    *,
    task: str,
    seed: int,
    dense: bool = False,
) -> Pipeline:
    """The unfitted preprocessing pipeline: raw pandas columns in, a numeric matrix out.

    Steps: ``derived`` (:class:`DerivedFeatures`) then ``columns`` (a
    ``ColumnTransformer`` with one branch per group of columns sharing
    options, one per text column, missing-value indicators, and one per user
    transformer). Columns given to a user transformer are handled by it alone.

    Args:
        config: the ``features`` section.
        types: the result of :func:`detect_column_types` on the training data.
        task: ``binary``, ``multiclass`` or ``regression`` (for target encoding).
        seed: random seed for target-encoding folds and bin subsampling.
        dense: always return a dense array (for estimators that refuse sparse input).

    Raises:
        ConfigError: bad ``per_column`` overrides or user transformers, or
            conflicting options.
        ModelError: no feature column is left.

    Example:
        >>> types = detect_column_types(frame, target="churn", id_column=None, config=cfg.features)
        >>> pre = build_preprocessor(cfg.features, types, task="binary", seed=42)
        >>> X = pre.fit_transform(to_model_frame(train.drop("churn")), y)
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if task not in TASKS:
        raise ConfigError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    options = resolve_options(config, types)
    transformers: list[tuple[str, Any, Any]] = []
    consumed: set[str] = set()
    taken: set[str] = {"missing"}
    known = list(types.input_columns) + list(types.derived_names)
    for index, spec in enumerate(config.custom):
        transformer = load_user_transformer(spec, index=index, columns=known)
        transformers.append((f"custom_{index}", transformer, list(spec.columns)))
        taken.add(f"custom_{index}")
        consumed.update(spec.columns)

    for kind, opts, columns in _group(types, options, consumed):
        # The group on the defaults is named after its kind; overridden groups after their first column.
        name = (
            kind
            if opts == defaults_for(config, kind)
            else _safe_name(f"{kind}_{columns[0]}", taken)
        )
        taken.add(name)
        if kind == "numeric":
            assert isinstance(opts, NumericFeatures)
            transformers.append((name, _numeric(opts, columns, seed=seed), columns))
        elif kind == "categorical":
            assert isinstance(opts, CategoricalFeatures)
            transformers.append((name, _categorical(opts, task=task, seed=seed), columns))
        elif kind == "datetime":
            assert isinstance(opts, DatetimeFeatures)
            transformers.append((name, *_datetime(opts, columns, known=known)))
        else:
            assert isinstance(opts, TextFeatures)
            for column in columns:
                transformers.append((_safe_name(f"text_{column}", taken), _text(opts), column))

    indicated = [c for c in types.numeric if c not in consumed and _wants_indicator(options[c])]
    if indicated:
        transformers.append(("missing", _missing_indicator(), indicated))
    if not transformers:
        raise ModelError(
            "no feature columns are left to train on"
            + (f" (dropped: {', '.join(types.dropped)})" if types.dropped else ""),
            hint="declare feature columns under features.numeric / categorical / text / datetime",
        )
    columns = ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0 if dense else config.sparse_threshold,
        verbose_feature_names_out=True,
    )
    return Pipeline(
        [("derived", DerivedFeatures(expressions=dict(config.derived))), ("columns", columns)]
    )


def feature_names(preprocessor: Any) -> list[str]:
    """Names of the output columns of a fitted preprocessor (``numeric__tenure``, ...).

    Transformers without ``get_feature_names_out`` (some user ones) get
    ``<name>__0``, ``<name>__1``, ...
    """
    from sklearn.pipeline import Pipeline

    columns = preprocessor.steps[-1][1] if isinstance(preprocessor, Pipeline) else preprocessor
    try:
        return [str(n) for n in columns.get_feature_names_out()]
    except (AttributeError, NotImplementedError, ValueError):
        pass
    names: list[str] = []
    for name, transformer, cols in columns.transformers_:
        part = columns.output_indices_.get(name, slice(0, 0))
        width = part.stop - part.start
        if width == 0:
            continue
        try:
            inner = transformer.get_feature_names_out(None if isinstance(cols, str) else list(cols))
            names += [f"{name}__{n}" for n in inner]
        except (AttributeError, NotImplementedError, ValueError, TypeError):
            names += [f"{name}__{i}" for i in range(width)]
    return names


# ---------------------------------------------------------------- branches


def _group(
    types: ColumnTypes, options: dict[str, ColumnOptions], consumed: set[str]
) -> list[tuple[str, ColumnOptions, list[str]]]:
    groups: dict[tuple[str, str], tuple[str, ColumnOptions, list[str]]] = {}
    for kind in ("numeric", "categorical", "text", "datetime"):
        for column in getattr(types, kind):
            if column in consumed:
                continue
            opts = options[column]
            key = (kind, opts.model_dump_json())
            groups.setdefault(key, (kind, opts, []))[2].append(column)
    return list(groups.values())


def _wants_indicator(opts: ColumnOptions) -> bool:
    return isinstance(opts, NumericFeatures) and opts.add_indicator and opts.impute != "none"


def _numeric(opts: NumericFeatures, columns: Sequence[str], *, seed: int) -> Pipeline:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        KBinsDiscretizer,
        MinMaxScaler,
        PowerTransformer,
        RobustScaler,
        StandardScaler,
    )

    steps: list[tuple[str, Any]] = [("to_float", ToFloat())]
    if opts.impute != "none":
        fill = {"fill_value": opts.fill_value} if opts.impute == "constant" else {}
        steps.append(("impute", SimpleImputer(strategy=opts.impute, **fill)))
    if opts.bins is not None:
        if opts.impute == "none":
            raise ConfigError(
                f"features: numeric column(s) {', '.join(columns)} set 'bins' with impute 'none'; "
                "quantile bins cannot hold missing values",
                hint="choose an impute strategy (median, mean, constant) or drop 'bins'",
            )
        # Quantile bins ignore monotone transforms and scaling, so those steps are left out.
        encode = "onehot-dense" if opts.bins_encode == "onehot" else "ordinal"
        steps.append(
            (
                "bins",
                KBinsDiscretizer(
                    n_bins=opts.bins, encode=encode, strategy="quantile", random_state=seed
                ),
            )
        )
        return Pipeline(steps)
    if opts.transform == "log":
        steps.append(("log", Log1pClipped()))
    elif opts.transform == "power":
        steps.append(("power", PowerTransformer(method="yeo-johnson", standardize=False)))
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}.get(
        opts.scale
    )
    if scaler is not None:
        steps.append(("scale", scaler()))
    return Pipeline(steps)


def _missing_indicator() -> Pipeline:
    from sklearn.impute import MissingIndicator
    from sklearn.pipeline import Pipeline

    # error_on_new=False: a column complete in training may still arrive empty when serving.
    return Pipeline(
        [
            ("to_float", ToFloat()),
            ("indicator", MissingIndicator(features="missing-only", error_on_new=False)),
        ]
    )


def _categorical(opts: CategoricalFeatures, *, task: str, seed: int) -> Pipeline:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    steps: list[tuple[str, Any]] = [("to_strings", CategoryStrings())]
    if opts.impute == "constant":
        steps.append(("impute", SimpleImputer(strategy="constant", fill_value=opts.fill_value)))
    elif opts.impute == "most_frequent":
        steps.append(("impute", SimpleImputer(strategy="most_frequent")))
    if opts.encode == "onehot":
        encoder: Any = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=opts.max_categories,
            min_frequency=opts.min_frequency,
            sparse_output=False,
        )
    elif opts.encode == "ordinal":
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            max_categories=opts.max_categories,
            min_frequency=opts.min_frequency,
        )
    elif opts.encode == "target":
        encoder = TargetEncoder(target_type=_TARGET_TYPES[task], cv=_folds(task, seed))
    else:
        encoder = HashingEncoder(n_features=opts.hash_features)
    steps.append(("encode", encoder))
    return Pipeline(steps)


def _folds(task: str, seed: int) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    # TargetEncoder's own shuffle/random_state are deprecated in scikit-learn 1.9: pass the splitter.
    if task == "regression":
        return KFold(n_splits=5, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)


def _text(opts: TextFeatures) -> Pipeline:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    low, high = opts.ngram_range
    if not 1 <= low <= high:
        raise ConfigError(
            f"features: text ngram_range must be (low, high) with 1 <= low <= high, got {opts.ngram_range}"
        )
    vectorizer = TfidfVectorizer(
        analyzer=opts.analyzer,
        ngram_range=(low, high),
        max_features=opts.max_features,
        min_df=opts.min_df,
        lowercase=opts.lowercase,
        sublinear_tf=opts.sublinear_tf,
        dtype=np.float64,
    )
    return Pipeline([("to_text", TextColumn()), ("tfidf", vectorizer)])


def _safe_name(wanted: str, taken: set[str]) -> str:
    """A ColumnTransformer step name: no '__' (it separates nested parameters), not yet used."""
    base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in wanted)
    while "__" in base:
        base = base.replace("__", "_")
    base = base.strip("_") or "features"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _datetime(
    opts: DatetimeFeatures, columns: list[str], *, known: list[str]
) -> tuple[DatetimeParts, list[str]]:
    parts = list(opts.parts)
    reference = opts.age_reference
    if reference is not None:
        if reference not in known:
            raise ConfigError(
                f"features.datetime_defaults.age_reference: there is no column '{reference}' in the data"
            )
        if "age_days" not in parts:
            parts.append("age_days")
    encoded = [c for c in columns if c != reference]
    inputs = encoded + ([reference] if reference is not None else [])
    return DatetimeParts(parts=parts, cyclical=opts.cyclical, reference_column=reference), inputs
