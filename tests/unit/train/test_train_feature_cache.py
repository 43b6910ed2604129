"""The features step is fitted once per set of rows and shared by the fits on those rows."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression

from conveyor.config.models import ModelSpec, SearchParam, TuneConfig
from conveyor.train import fit_candidates, tune
from conveyor.train._feature_cache import FeatureCache
from conveyor.train._fitting import fit_pipeline


class CountingScaler(TransformerMixin, BaseEstimator):
    """Standard scaling that counts its fits in a class attribute (clones share it)."""

    fits = 0

    def fit(self, X: Any, y: Any = None) -> CountingScaler:
        type(self).fits += 1
        arr = np.asarray(X, dtype=float)
        self.mean_, self.scale_ = arr.mean(axis=0), arr.std(axis=0) + 1e-12
        return self

    def transform(self, X: Any) -> np.ndarray:
        return (np.asarray(X, dtype=float) - self.mean_) / self.scale_


class InPlaceClassifier(ClassifierMixin, BaseEstimator):
    """Breaks the scikit-learn contract: writes into the matrix it is given."""

    def fit(self, X: Any, y: Any) -> InPlaceClassifier:
        X[:, 0] = 0.0
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.repeat(self.classes_[:1], len(X))


@pytest.fixture
def counting(binary_split: Any) -> Any:
    CountingScaler.fits = 0
    binary_split = type(binary_split)(**{**binary_split.__dict__})
    binary_split.preprocessor = CountingScaler()
    return binary_split


C_SPACE = {"C": SearchParam(type="float", low=0.01, high=10.0, log=True)}


def test_trials_fit_the_features_once_on_the_holdout(counting: Any) -> None:
    spec = ModelSpec(estimator="logistic_regression", tune=TuneConfig(n_trials=6, space=C_SPACE))
    result = tune(spec, primary_metric="roc_auc", study_name="s", **counting.kwargs())
    assert result.n_trials == 6
    assert CountingScaler.fits == 1


def test_cv_trials_fit_the_features_once_per_fold(counting: Any) -> None:
    spec = ModelSpec(
        estimator="logistic_regression", tune=TuneConfig(n_trials=4, cv=3, space=C_SPACE)
    )
    result = tune(spec, primary_metric="roc_auc", study_name="s", **counting.kwargs())
    assert result.protocol == "cv3" and result.n_trials == 4
    assert CountingScaler.fits == 3


def test_candidates_share_the_tuned_features(counting: Any) -> None:
    specs = [
        ModelSpec(estimator="logistic_regression", tune=TuneConfig(n_trials=3, space=C_SPACE)),
        ModelSpec(estimator="random_forest", params={"n_estimators": 5}),
        ModelSpec(estimator="lightgbm", params={"n_estimators": 20, "n_jobs": 1, "verbose": -1}),
    ]
    board = fit_candidates(specs, primary_metric="roc_auc", **counting.kwargs())
    assert len(board.candidates) == 3
    assert CountingScaler.fits == 1
    steps = [c.pipeline.named_steps["features"] for c in board.candidates]
    assert len({id(s) for s in steps}) == 3, "each pipeline owns its features step"
    steps[0].mean_[:] = 99.0
    assert not np.any(steps[1].mean_ == 99.0)


def test_shared_features_give_the_same_trials_as_fresh_fits(binary_split: Any) -> None:
    spec = ModelSpec(
        estimator="lightgbm",
        params={"n_estimators": 30, "n_jobs": 1, "verbose": -1},
        early_stopping_rounds=5,
        tune=TuneConfig(
            n_trials=4,
            space={"num_leaves": SearchParam(type="int", low=4, high=31)},
            sampler="random",
        ),
    )
    shared = tune(spec, primary_metric="roc_auc", study_name="a", **binary_split.kwargs())
    fresh = tune(
        spec,
        primary_metric="roc_auc",
        study_name="b",
        feature_cache=FeatureCache(binary_split.preprocessor, max_bytes=0),
        **binary_split.kwargs(),
    )
    assert [t["value"] for t in shared.trials] == [t["value"] for t in fresh.trials]
    assert [t["params"] for t in shared.trials] == [t["params"] for t in fresh.trials]


def test_without_room_nothing_is_kept(counting: Any) -> None:
    cache = FeatureCache(counting.preprocessor, max_bytes=0)
    for _ in range(3):
        _, Xt, Xv = cache.fitted("holdout", counting.X_train, counting.y_train, counting.X_valid)
        assert Xt.flags.writeable and Xv.flags.writeable, "a matrix nobody shares stays writable"
    assert cache.fits == 3 == CountingScaler.fits


def test_the_byte_budget_bounds_what_is_kept(counting: Any) -> None:
    one_entry = counting.X_train.shape[0] * counting.X_train.shape[1] * 8
    cache = FeatureCache(counting.preprocessor, max_bytes=one_entry)
    for _ in range(2):
        cache.fitted("a", counting.X_train, counting.y_train)
        cache.fitted("b", counting.X_train, counting.y_train)
    assert cache.fits == 3  # "a" kept; "b" did not fit in the budget, so it is fitted each time


def test_a_shared_matrix_cannot_be_written_by_an_estimator(binary_split: Any) -> None:
    cache = FeatureCache(binary_split.preprocessor)
    kwargs = {
        "preprocessor": binary_split.preprocessor,
        "X_train": binary_split.X_train,
        "y_train": binary_split.y_train,
        "feature_cache": cache,
    }
    fit_pipeline(LogisticRegression(), **kwargs)
    with pytest.raises(ValueError, match="read-only"):
        fit_pipeline(InPlaceClassifier(), **kwargs)
    _, Xt, _ = cache.fitted("holdout", binary_split.X_train, binary_split.y_train)
    assert not np.all(Xt[:, 0] == 0.0)


def test_another_preprocessor_is_refused(binary_split: Any) -> None:
    cache = FeatureCache(CountingScaler())
    with pytest.raises(ValueError, match="another preprocessor"):
        fit_pipeline(
            LogisticRegression(),
            preprocessor=binary_split.preprocessor,
            X_train=binary_split.X_train,
            y_train=binary_split.y_train,
            feature_cache=cache,
        )


def test_a_pickled_cache_arrives_empty(counting: Any) -> None:
    cache = FeatureCache(counting.preprocessor)
    cache.fitted("holdout", counting.X_train, counting.y_train)
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.fits == 0 and copy.max_bytes == cache.max_bytes
    copy.fitted("holdout", counting.X_train, counting.y_train)
    assert copy.fits == 1


def test_concurrent_fits_on_one_key_fit_once(counting: Any) -> None:
    cache = FeatureCache(counting.preprocessor)
    results: list[Any] = []

    def work() -> None:
        results.append(cache.fitted("holdout", counting.X_train, counting.y_train)[1])

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.fits == 1 and len(results) == 6
    assert all(r is results[0] for r in results)
