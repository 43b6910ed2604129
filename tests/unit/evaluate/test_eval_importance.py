from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import ConfigError
from conveyor.evaluate import permutation_importance_table
from conveyor.evaluate.importance import binary_auc


def _informative_data(n: int = 600):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "noise_a": rng.normal(size=n),
            "signal": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
            "colour": rng.choice(["red", "blue"], size=n),
        }
    )
    y = pd.Series(np.where(X["signal"] + 0.3 * rng.normal(size=n) > 0, "pos", "neg"))
    return X, y


def _pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [("num", StandardScaler(), ["noise_a", "signal", "noise_b"]),
         ("cat", OneHotEncoder(), ["colour"])]
    )  # fmt: skip
    return Pipeline([("pre", pre), ("model", LogisticRegression())])


def test_informative_raw_column_ranks_first() -> None:
    X, y = _informative_data()
    pipe = _pipeline().fit(X, y)
    table = permutation_importance_table(
        pipe, X, y, task="binary", metric="roc_auc", seed=0, n_repeats=3, max_rows=300,
        positive_class="pos",
    )  # fmt: skip
    assert table[0]["feature"] == "signal"
    assert {row["feature"] for row in table} == {"noise_a", "signal", "noise_b", "colour"}
    assert table[0]["importance_mean"] > 0.2
    assert all(abs(row["importance_mean"]) < 0.05 for row in table[1:])
    # Importance is positive for losses too (the loss grows when the column is shuffled).
    loss_table = permutation_importance_table(
        pipe, X, y, task="binary", metric="log_loss", seed=0, n_repeats=2, max_rows=300
    )
    assert loss_table[0]["feature"] == "signal" and loss_table[0]["importance_mean"] > 0


def test_regression_importance_and_bad_metric(regression_split) -> None:
    s = regression_split
    table = permutation_importance_table(
        s.pipeline, s.X_test, s.y_test, task="regression", metric="rmse", seed=0, n_repeats=2
    )
    assert len(table) == 3
    means = [row["importance_mean"] for row in table]
    assert means == sorted(means, reverse=True)
    with pytest.raises(ConfigError, match="'roc_auc' is not a regression metric"):
        permutation_importance_table(
            s.pipeline, s.X_test, s.y_test, task="regression", metric="roc_auc", seed=0
        )


def test_matches_scikit_learn_permutation_importance() -> None:
    """Stacking the shuffled copies changes the cost, not the definition."""
    from sklearn.inspection import permutation_importance

    X, y = _informative_data(400)
    pipe = _pipeline().fit(X, y)
    ours = permutation_importance_table(
        pipe, X, y, task="binary", metric="accuracy", seed=3, n_repeats=20, positive_class="pos",
        threshold=0.5,
    )  # fmt: skip
    theirs = permutation_importance(pipe, X, y, scoring="accuracy", n_repeats=20, random_state=3)
    expected = dict(zip(X.columns, theirs.importances_mean))
    for row in ours:
        # different shuffles, same quantity: agree within the shuffles' noise
        assert row["importance_mean"] == pytest.approx(expected[row["feature"]], abs=0.02)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(min_value=0, max_value=6)), min_size=1, max_size=60
    )
)
def test_binary_auc_equals_scikit_learn(rows: list[tuple[bool, int]]) -> None:
    """Few distinct scores, so ties are everywhere; one class alone gives NaN."""
    from sklearn.metrics import roc_auc_score

    positive = np.array([p for p, _ in rows])
    score = np.array([s / 6 for _, s in rows])
    got = binary_auc(positive, score)
    if positive.all() or not positive.any():
        assert np.isnan(got)
    else:
        assert got == pytest.approx(roc_auc_score(positive, score), abs=1e-12)


@pytest.mark.parametrize("positive_class", ["pos", "neg"])
def test_the_fast_auc_path_gives_scikit_learns_importances(
    positive_class: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    module = importlib.import_module("conveyor.evaluate.importance")
    X, y = _informative_data()
    pipe = _pipeline().fit(X, y)
    kwargs = {"task": "binary", "metric": "roc_auc", "seed": 3, "positive_class": positive_class}
    assert module._auc_scorer("binary", "roc_auc", list(pipe.classes_), positive_class)
    fast = permutation_importance_table(pipe, X, y, **kwargs)
    monkeypatch.setattr(module, "_auc_scorer", lambda *a: None)
    slow = permutation_importance_table(pipe, X, y, **kwargs)
    assert [r["feature"] for r in fast] == [r["feature"] for r in slow]
    for a, b in zip(fast, slow, strict=True):
        assert a["importance_mean"] == pytest.approx(b["importance_mean"], abs=1e-12)
        assert a["importance_std"] == pytest.approx(b["importance_std"], abs=1e-12)
