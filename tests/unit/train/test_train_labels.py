from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression

from conveyor.train import LabelEncodedClassifier


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = np.array(["cat", "dog", "bird"], dtype=object)[np.argmax(X, axis=1)]
    return X, y


def test_round_trips_string_labels_with_xgboost(data: tuple[np.ndarray, np.ndarray]) -> None:
    import xgboost as xgb

    X, y = data
    clf = LabelEncodedClassifier(xgb.XGBClassifier(n_estimators=20, max_depth=2)).fit(X, y)
    assert list(clf.classes_) == ["bird", "cat", "dog"]
    pred = clf.predict(X)
    assert set(pred) <= {"bird", "cat", "dog"}
    assert (pred == y).mean() > 0.8
    assert clf.predict_proba(X).shape == (90, 3)
    assert clf.feature_importances_.shape == (3,)
    assert clf.n_features_in_ == 3


def test_encodes_eval_set_labels(data: tuple[np.ndarray, np.ndarray]) -> None:
    import xgboost as xgb

    X, y = data
    clf = LabelEncodedClassifier(xgb.XGBClassifier(n_estimators=200, early_stopping_rounds=5))
    clf.fit(X[:60], y[:60], eval_set=[(X[60:], y[60:])], verbose=False)
    assert clf.estimator_.best_iteration < 199


def test_integer_labels_that_are_not_0_to_k(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    y_int = np.where(y == "cat", 10, 20)
    clf = LabelEncodedClassifier(LogisticRegression()).fit(X, y_int)
    assert set(clf.predict(X)) <= {10, 20}


def test_sklearn_contract(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    clf = LabelEncodedClassifier(LogisticRegression(C=0.5))
    assert is_classifier(clf)
    assert clf.get_params()["estimator__C"] == 0.5
    clf.set_params(estimator__C=2.0)
    assert clone(clf).estimator.C == 2.0
    with pytest.raises(ValueError, match="needs an 'estimator'"):
        LabelEncodedClassifier().fit(X, y)


def test_pickle_and_skops_round_trip(data: tuple[np.ndarray, np.ndarray]) -> None:
    import skops.io as sio
    import xgboost as xgb

    X, y = data
    clf = LabelEncodedClassifier(xgb.XGBClassifier(n_estimators=10)).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    blob = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=blob)
    assert "conveyor.train.labels.LabelEncodedClassifier" in untrusted
    loaded = sio.loads(blob, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
