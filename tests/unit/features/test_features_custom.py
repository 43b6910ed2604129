"""User transformers by import path: loaded, checked against the contract, wired in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from conveyor.config.models import FeaturesConfig
from conveyor.errors import ConfigError
from conveyor.features import build_preprocessor, detect_column_types, feature_names, to_model_frame

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    # The sample module sits next to this file; make 'sample_transformers' importable by path.
    monkeypatch.syspath_prepend(str(HERE))


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "a": [0.5, 2.0, -1.0, None, 0.25, 0.75],
            "b": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "colour": ["red", "blue", "red", "green", "blue", "red"],
            "target": [0, 1, 0, 1, 0, 1],
        }
    )


def _build(custom: list[dict[str, object]]) -> tuple[object, pd.DataFrame]:
    frame = _frame()
    config = FeaturesConfig(custom=custom)
    types = detect_column_types(frame, target="target", id_column=None, config=config)
    return build_preprocessor(config, types, task="binary", seed=0), to_model_frame(
        frame.drop("target")
    )


def test_user_transformer_takes_its_columns() -> None:
    pre, X = _build(
        [
            {
                "transformer": "sample_transformers:ClipValues",
                "columns": ["a"],
                "params": {"upper": 0.6},
            }
        ]
    )
    out = pre.fit_transform(X, [0, 1, 0, 1, 0, 1])
    names = feature_names(pre)
    assert names[0] == "custom_0__a_clipped"
    np.testing.assert_allclose(out[:, 0], [0.5, 0.6, 0.0, 0.0, 0.25, 0.6])
    assert not any(n.startswith("numeric__a") for n in names)  # 'a' is the user transformer's alone
    assert "numeric__b" in names


def test_dotted_path_and_missing_feature_names() -> None:
    pre, X = _build([{"transformer": "sample_transformers.RowSum", "columns": ["a", "b"]}])
    out = pre.fit_transform(X, [0, 1, 0, 1, 0, 1])
    names = feature_names(pre)
    assert names[0] == "custom_0__0"
    assert len(names) == out.shape[1]
    np.testing.assert_allclose(out[:, 0], [1.5, 4.0, 2.0, 4.0, 5.25, 6.75])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"transformer": "no_such_package.mod:Thing"},
            "features.custom[0].transformer: cannot import module 'no_such_package.mod'",
        ),
        (
            {"transformer": "sample_transformers:ClipValuez"},
            "module 'sample_transformers' has no attribute 'ClipValuez' (did you mean 'ClipValues'?)",
        ),
        ({"transformer": "ClipValues"}, "'ClipValues' is not an import path"),
        (
            {"transformer": "sample_transformers:not_a_class"},
            "'sample_transformers:not_a_class' is a function, not a class",
        ),
        (
            {"transformer": "sample_transformers:NoTransform"},
            "is not a scikit-learn transformer (no transform method)",
        ),
        (
            {"transformer": "sample_transformers:ClipValues", "params": {"uper": 1}},
            "features.custom[0].params: 'sample_transformers:ClipValues' refused the parameters",
        ),
        (
            {"transformer": "sample_transformers:ChangesParams", "params": {"factor": 3.0}},
            "does not store 'factor' unchanged",
        ),
        (
            {"transformer": "sample_transformers:ClipValues", "columns": ["aa"]},
            "features.custom[0].columns[0]: there is no column 'aa' (did you mean 'a'?)",
        ),
        (
            {"transformer": "sample_transformers:ClipValues", "columns": []},
            "features.custom[0].columns: list at least one column",
        ),
    ],
)
def test_bad_user_transformers(spec: dict[str, object], message: str) -> None:
    spec = {"columns": ["a"], **spec}
    with pytest.raises(ConfigError) as info:
        _build([spec])
    assert message in info.value.headline
