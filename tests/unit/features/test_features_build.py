"""The preprocessing pipeline: every option, per-column overrides, leakage, names, serialisation."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp

from conveyor.config.models import FeaturesConfig
from conveyor.errors import ConfigError, ModelError
from conveyor.features import (
    TRUSTED_TYPES,
    build_preprocessor,
    detect_column_types,
    feature_names,
    may_be_sparse,
    required_columns,
    to_model_frame,
)


def _fit(
    frame: pl.DataFrame, *, task: str = "binary", dense: bool = False, **config: Any
) -> tuple[Any, Any]:
    cfg = FeaturesConfig.model_validate(config)
    types = detect_column_types(frame, target="target", id_column=None, config=cfg)
    pre = build_preprocessor(cfg, types, task=task, seed=7, dense=dense)
    out = pre.fit_transform(to_model_frame(frame.drop("target")), frame["target"].to_numpy())
    return pre, out


def _column(pre: Any, out: Any, name: str) -> np.ndarray:
    return np.asarray(out)[:, feature_names(pre).index(name)]


def test_default_pipeline_on_the_small_frame(small_frame: pl.DataFrame) -> None:
    pre, out = _fit(small_frame)
    names = feature_names(pre)
    assert out.shape == (30, len(names))
    assert sp.issparse(out) or np.isfinite(out).all()
    assert [s for s, _ in pre.steps] == ["derived", "columns"]
    assert {"numeric__amount", "numeric__count", "numeric__flag"} <= set(names)
    assert {
        "categorical__colour_red",
        "datetime__signup_year",
        "datetime__signup_month_sin",
    } <= set(names)
    assert any(n.startswith("text_note__") for n in names)
    assert not any("row_id" in n or "code" in n or "constant" in n or "empty" in n for n in names)


# ---------------------------------------------------------------- numeric


@pytest.fixture
def numbers() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x": [1.0, 2.0, None, 4.0, 100.0, 6.0, 7.0, 8.0, None, 10.0],
            "target": [0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        }
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"impute": "median", "scale": "none"}, [1, 2, 6.5, 4, 100, 6, 7, 8, 6.5, 10]),
        ({"impute": "mean", "scale": "none"}, [1, 2, 17.25, 4, 100, 6, 7, 8, 17.25, 10]),
        (
            {"impute": "constant", "fill_value": -1, "scale": "none"},
            [1, 2, -1, 4, 100, 6, 7, 8, -1, 10],
        ),
        ({"impute": "none", "scale": "none"}, [1, 2, math.nan, 4, 100, 6, 7, 8, math.nan, 10]),
        (
            {"impute": "median", "scale": "none", "transform": "log"},
            np.log1p([1, 2, 6.5, 4, 100, 6, 7, 8, 6.5, 10]),
        ),
    ],
)
def test_numeric_impute_and_log(
    numbers: pl.DataFrame, options: dict[str, Any], expected: list[float]
) -> None:
    pre, out = _fit(numbers, numeric_defaults=options)
    np.testing.assert_allclose(_column(pre, out, "numeric__x"), expected)


def test_numeric_scalers(numbers: pl.DataFrame) -> None:
    pre, out = _fit(numbers)
    x = _column(pre, out, "numeric__x")
    assert abs(x.mean()) < 1e-12 and abs(x.std() - 1) < 1e-12
    pre, out = _fit(numbers, numeric_defaults={"scale": "minmax"})
    x = _column(pre, out, "numeric__x")
    assert (x.min(), x.max()) == (0.0, 1.0)
    pre, out = _fit(numbers, numeric_defaults={"scale": "robust"})
    assert np.median(_column(pre, out, "numeric__x")) == 0.0


def test_numeric_power_transform_reduces_skew(numbers: pl.DataFrame) -> None:
    from scipy.stats import skew

    _, raw = _fit(numbers, numeric_defaults={"scale": "none"})
    _, powered = _fit(numbers, numeric_defaults={"transform": "power"})
    assert abs(skew(powered[:, 0])) < abs(skew(raw[:, 0]))


def test_missing_indicator_is_a_separate_unscaled_column(numbers: pl.DataFrame) -> None:
    pre, out = _fit(numbers, numeric_defaults={"add_indicator": True})
    np.testing.assert_array_equal(
        _column(pre, out, "missing__missingindicator_x"), [0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    )
    # A column complete in training may arrive empty when serving: no error, indicator stays 0-width.
    complete = numbers.with_columns(pl.col("x").fill_null(0.0))
    pre, out = _fit(complete, numeric_defaults={"add_indicator": True})
    assert not any(n.startswith("missing__") for n in feature_names(pre))
    pre.transform(pd.DataFrame({"x": [None]}))


@pytest.mark.parametrize(("encode", "width"), [("onehot", 4), ("ordinal", 1)])
def test_quantile_bins(numbers: pl.DataFrame, encode: str, width: int) -> None:
    pre, out = _fit(numbers, numeric_defaults={"bins": 4, "bins_encode": encode})
    names = feature_names(pre)
    assert len(names) == width
    if encode == "ordinal":
        assert set(out[:, 0]) <= {0.0, 1.0, 2.0, 3.0}
    else:
        np.testing.assert_array_equal(out.sum(axis=1), 1.0)


def test_bins_need_imputation(numbers: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="set 'bins' with impute 'none'"):
        _fit(numbers, numeric_defaults={"bins": 4, "impute": "none"})


# ---------------------------------------------------------------- categorical


@pytest.fixture
def colours() -> pl.DataFrame:
    values = ["red"] * 8 + ["blue"] * 6 + ["green"] * 4 + ["pink", None]
    return pl.DataFrame({"colour": values, "target": [i % 2 for i in range(20)]})


def test_onehot_with_infrequent_and_unknown(colours: pl.DataFrame) -> None:
    pre, _ = _fit(colours, categorical_defaults={"min_frequency": 2})
    names = feature_names(pre)
    assert names == [
        "categorical__colour_blue",
        "categorical__colour_green",
        "categorical__colour_red",
        "categorical__colour_infrequent_sklearn",
    ]
    request = pd.DataFrame({"colour": ["red", "never-seen", None]})
    np.testing.assert_array_equal(
        pre.transform(request), [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]]
    )


def test_onehot_max_categories(colours: pl.DataFrame) -> None:
    pre, _ = _fit(colours, categorical_defaults={"max_categories": 2})
    assert feature_names(pre) == [
        "categorical__colour_red",
        "categorical__colour_infrequent_sklearn",
    ]


def test_ordinal_unknown_and_missing_are_minus_one(colours: pl.DataFrame) -> None:
    pre, _ = _fit(
        colours,
        categorical_defaults={"encode": "ordinal", "impute": "none", "max_categories": None},
    )
    out = pre.transform(pd.DataFrame({"colour": ["blue", "never-seen", None]}))
    assert out[0, 0] >= 0 and out[1, 0] == -1 and out[2, 0] == -1


def test_most_frequent_imputation(colours: pl.DataFrame) -> None:
    pre, _ = _fit(colours, categorical_defaults={"impute": "most_frequent"})
    red = pre.transform(pd.DataFrame({"colour": ["red"]}))
    np.testing.assert_array_equal(pre.transform(pd.DataFrame({"colour": [None]})), red)


@pytest.mark.parametrize(
    ("task", "target", "width"),
    [
        ("binary", [i % 2 for i in range(20)], 1),
        ("multiclass", [i % 3 for i in range(20)], 3),
        ("regression", [float(i) for i in range(20)], 1),
    ],
)
def test_target_encoding_by_task(
    colours: pl.DataFrame, task: str, target: list[Any], width: int
) -> None:
    frame = colours.with_columns(pl.Series("target", target))
    pre, out = _fit(frame, task=task, categorical_defaults={"encode": "target"})
    assert out.shape == (20, width)
    encoder = pre.named_steps["columns"].named_transformers_["categorical"].named_steps["encode"]
    assert (
        encoder.target_type_
        == {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}[task]
    )


def test_hashing_encoder_in_the_pipeline(colours: pl.DataFrame) -> None:
    pre, out = _fit(colours, categorical_defaults={"encode": "hashing", "hash_features": 4})
    assert out.shape == (20, 4)
    assert feature_names(pre)[0] == "categorical__colour_hash0"


# ---------------------------------------------------------------- text and datetime


@pytest.fixture
def reviews() -> pl.DataFrame:
    good = [
        "great taste and really fresh",
        "really great value, would buy again",
        "fresh and great",
    ]
    bad = [
        "stale and bland, not good",
        "arrived broken, not good at all",
        "bland taste, would not buy",
    ]
    texts = (good + bad) * 5
    return pl.DataFrame({"review": [*texts, None], "target": [1, 1, 1, 0, 0, 0] * 5 + [0]})


def test_text_tfidf_options_and_sparse_output(reviews: pl.DataFrame) -> None:
    pre, out = _fit(reviews, text=["review"], text_defaults={"ngram_range": [1, 1], "min_df": 1})
    assert sp.issparse(out)
    assert "text_review__great" in feature_names(pre)
    assert "text_review__great taste" not in feature_names(pre)
    types = detect_column_types(
        reviews, target="target", id_column=None, config=FeaturesConfig(text=["review"])
    )
    assert may_be_sparse(types) and not may_be_sparse(types, FeaturesConfig(sparse_threshold=0))
    pre, dense = _fit(
        reviews,
        dense=True,
        text=["review"],
        text_defaults={"analyzer": "char_wb", "ngram_range": [2, 3], "max_features": 50},
    )
    assert isinstance(dense, np.ndarray) and dense.shape == (31, 50)


def test_datetime_branch_with_age_reference() -> None:
    frame = pl.DataFrame(
        {
            "signup": ["2021-01-01", "2021-03-01", "2021-05-01", "2021-07-01"],
            "asof": ["2021-12-31"] * 4,
            "target": [0, 1, 0, 1],
        }
    )
    pre, out = _fit(
        frame,
        datetime=["signup", "asof"],
        datetime_defaults={"parts": ["month"], "age_reference": "asof", "cyclical": False},
    )
    assert feature_names(pre) == ["datetime__signup_month", "datetime__signup_age_days"]
    np.testing.assert_allclose(out[:, 1], [364, 305, 244, 183])


# ---------------------------------------------------------------- per-column overrides


def test_per_column_overrides_make_their_own_group(small_frame: pl.DataFrame) -> None:
    pre, out = _fit(
        small_frame, per_column={"amount": {"scale": "minmax"}, "colour": {"encode": "ordinal"}}
    )
    names = feature_names(pre)
    assert "numeric_amount__amount" in names and "numeric__count" in names
    assert "categorical_colour__colour" in names
    amount = _column(pre, out, "numeric_amount__amount")
    np.testing.assert_allclose((amount.min(), amount.max()), (0.0, 1.0))


@pytest.mark.parametrize(
    ("per_column", "message"),
    [
        (
            {"amount": {"scal": "minmax"}},
            "features.per_column.amount.scal: 'scal' is not an option of numeric columns (did you mean 'scale'?)",
        ),
        (
            {"colour": {"scale": "minmax"}},
            "features.per_column.colour.scale: 'scale' is not an option of categorical columns",
        ),
        (
            {"amount": {"scale": "zscore"}},
            "features.per_column.amount.scale: Input should be 'standard', 'minmax', 'robust' or 'none'",
        ),
        (
            {"amout": {"scale": "minmax"}},
            "features.per_column.amout: there is no column 'amout' in the data (did you mean 'amount'?)",
        ),
        (
            {"code": {"encode": "ordinal"}},
            "features.per_column.code: column 'code' is not a feature (id-like: every value unique)",
        ),
    ],
)
def test_bad_per_column_overrides(
    small_frame: pl.DataFrame, per_column: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _fit(small_frame, per_column=per_column)
    assert info.value.headline.startswith(message)


def test_no_features_left_is_a_model_error() -> None:
    frame = pl.DataFrame({"same": [1, 1, 1], "target": [0, 1, 0]})
    with pytest.raises(
        ModelError, match="no feature columns are left to train on \\(dropped: same\\)"
    ):
        _fit(frame)


def test_unknown_task_is_refused(small_frame: pl.DataFrame) -> None:
    types = detect_column_types(
        small_frame, target="target", id_column=None, config=FeaturesConfig()
    )
    with pytest.raises(ConfigError, match="task: expected one of binary, multiclass, regression"):
        build_preprocessor(FeaturesConfig(), types, task="ranking", seed=0)


# ---------------------------------------------------------------- leakage


def test_statistics_come_from_the_training_split_only() -> None:
    rng = np.random.default_rng(0)
    n = 200
    frame = pl.DataFrame(
        {
            "x": rng.normal(10, 2, n).tolist(),
            "gap": [None if i % 10 == 0 else float(v) for i, v in enumerate(rng.normal(0, 1, n))],
            "shop": rng.choice(["a", "b", "c"], n).tolist(),
            "target": rng.integers(0, 2, n).tolist(),
        }
    )
    train, test = frame.head(150), frame.tail(50)
    # Make the test split different so that any leak shows.
    test = test.with_columns(
        pl.col("x") + 100, pl.col("gap") * 50, pl.lit(1, dtype=pl.Int64).alias("target")
    )
    cfg = FeaturesConfig(per_column={"shop": {"encode": "target"}})
    types = detect_column_types(train, target="target", id_column=None, config=cfg)
    pre = build_preprocessor(cfg, types, task="binary", seed=0)
    pre.fit(to_model_frame(train.drop("target")), train["target"].to_numpy())
    pre.transform(to_model_frame(test.drop("target")))  # transforming must not refit anything
    numeric = pre.named_steps["columns"].named_transformers_["numeric"]
    np.testing.assert_allclose(numeric.named_steps["scale"].mean_[0], train["x"].mean())
    assert numeric.named_steps["scale"].mean_[0] < 11  # train+test would be ~35
    assert numeric.named_steps["impute"].statistics_[1] == train["gap"].median()
    assert numeric.named_steps["impute"].statistics_[1] != pl.concat([train, test])["gap"].median()
    encoder = (
        pre.named_steps["columns"].named_transformers_["categorical_shop"].named_steps["encode"]
    )
    np.testing.assert_allclose(encoder.target_mean_, train["target"].mean())
    assert encoder.target_mean_ != pl.concat([train, test])["target"].mean()


# ---------------------------------------------------------------- parity and serialisation


def _everything() -> tuple[pl.DataFrame, FeaturesConfig]:
    n = 40
    frame = pl.DataFrame(
        {
            "amount": [float(i % 9) if i % 6 else None for i in range(n)],
            "count": [i % 4 for i in range(n)],
            "shop": [["a", "b", "c", None][i % 4] for i in range(n)],
            "city": [["x", "y"][i % 2] for i in range(n)],
            "note": [f"note {['good', 'bad', 'fine'][i % 3]} words number {i}" for i in range(n)],
            "when": [f"2021-{i % 12 + 1:02d}-{i % 27 + 1:02d} 1{i % 10}:00" for i in range(n)],
            "target": [i % 2 for i in range(n)],
        }
    )
    cfg = FeaturesConfig.model_validate(
        {
            "text": ["note"],
            "derived": {"ratio": "amount / (count + 1)", "band": "if(count > 1, 'high', 'low')"},
            "numeric_defaults": {"add_indicator": True, "transform": "log"},
            "text_defaults": {"min_df": 1},
            "datetime_defaults": {"parts": ["month", "hour", "age_days"]},
            "per_column": {
                "shop": {"encode": "target"},
                "city": {"encode": "hashing", "hash_features": 4},
                "count": {"bins": 3},
            },
        }
    )
    return frame, cfg


def test_one_request_equals_its_row_in_the_batch() -> None:
    frame, cfg = _everything()
    types = detect_column_types(frame, target="target", id_column=None, config=cfg)
    pre = build_preprocessor(cfg, types, task="binary", seed=3, dense=True)
    X = to_model_frame(frame.drop("target"))
    pre.fit(X, frame["target"].to_numpy())
    batch = pre.transform(X)
    for i in (0, 5, 17):
        record = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in X.iloc[i].items()
        }
        one = pre.transform(pd.DataFrame([record]))
        np.testing.assert_allclose(one, batch[[i]], rtol=1e-12, atol=1e-12)


def test_skops_and_pickle_round_trip() -> None:
    import skops.io as sio

    frame, cfg = _everything()
    types = detect_column_types(frame, target="target", id_column=None, config=cfg)
    pre = build_preprocessor(cfg, types, task="binary", seed=3)
    X = to_model_frame(frame.drop("target"))
    expected = pre.fit(X, frame["target"].to_numpy()).transform(X)
    data = sio.dumps(pre)
    untrusted = set(sio.get_untrusted_types(data=data))
    # skops trusts scikit-learn estimators by default, except when Conveyor imported it
    # without that list (conveyor.bundle._serialize.skops_io): then they are listed too.
    estimators = {t for t in untrusted if t.startswith("sklearn.") and t not in TRUSTED_TYPES}
    assert untrusted - estimators <= set(TRUSTED_TYPES)  # the bundle can trust exactly this list
    assert len([t for t in untrusted if t.startswith("conveyor.")]) == 7  # every own transformer
    restored = sio.loads(data, trusted=[*TRUSTED_TYPES, *estimators])
    _same(restored.transform(X), expected)
    _same(pickle.loads(pickle.dumps(pre)).transform(X), expected)


def _same(a: Any, b: Any) -> None:
    a = a.toarray() if sp.issparse(a) else a
    b = b.toarray() if sp.issparse(b) else b
    np.testing.assert_allclose(a, b)


def test_required_columns_include_what_derived_and_custom_features_read(
    small_frame: pl.DataFrame,
) -> None:
    cfg = FeaturesConfig.model_validate(
        {
            "drop": ["note", "row_id"],
            "derived": {"per_row": "amount / (row_id + 1)"},
            "datetime_defaults": {"age_reference": "signup"},
        }
    )
    types = detect_column_types(small_frame, target="target", id_column=None, config=cfg)
    assert "row_id" not in types.features
    assert required_columns(cfg, types) == ["amount", "count", "flag", "colour", "signup", "row_id"]
