"""Tiny synthetic data and fitted sklearn pipelines for the evaluate tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest


@dataclass
class Split:
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    pipeline: Any


@pytest.fixture(scope="session")
def binary_split() -> Split:
    """300/150 rows, 4 numeric features + one category, labels 'yes'/'no', fitted logreg."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = make_classification(
        n_samples=450,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_clusters_per_class=1,
        class_sep=1.2,
        random_state=0,
    )
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["region"] = np.array(["north", "south", "east"])[np.arange(450) % 3]
    labels = pd.Series(np.where(y == 1, "yes", "no"), name="target")
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["a", "b", "c", "d"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
        ]
    )
    pipe = Pipeline([("pre", pre), ("model", LogisticRegression())])
    pipe.fit(frame.iloc[:300], labels.iloc[:300])
    return Split(frame.iloc[:300], labels.iloc[:300], frame.iloc[300:], labels.iloc[300:], pipe)


@pytest.fixture(scope="session")
def regression_split() -> Split:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_regression(n_samples=300, n_features=3, noise=5.0, random_state=1)
    frame = pd.DataFrame(X, columns=["x1", "x2", "x3"])
    target = pd.Series(y, name="target")
    pipe = Pipeline([("scale", StandardScaler()), ("model", Ridge())])
    pipe.fit(frame.iloc[:200], target.iloc[:200])
    return Split(frame.iloc[:200], target.iloc[:200], frame.iloc[200:], target.iloc[200:], pipe)
