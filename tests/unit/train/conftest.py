"""Tiny synthetic frames and a hand-built preprocessor for the training tests.

The tests take the preprocessor as a parameter (any scikit-learn transformer)
so they do not depend on ``conveyor.features``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


@dataclass
class Split:
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    preprocessor: Any
    task: str

    def kwargs(self) -> dict[str, Any]:
        return {
            "preprocessor": self.preprocessor,
            "X_train": self.X_train,
            "y_train": self.y_train,
            "X_valid": self.X_valid,
            "y_valid": self.y_valid,
            "task": self.task,
            "seed": 0,
        }


def numeric_preprocessor(columns: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    return ColumnTransformer([("num", StandardScaler(), columns)])


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _split(X: np.ndarray, y: np.ndarray, task: str, n_train: int) -> Split:
    frame = _frame(X)
    return Split(
        X_train=frame.iloc[:n_train].reset_index(drop=True),
        y_train=y[:n_train],
        X_valid=frame.iloc[n_train:].reset_index(drop=True),
        y_valid=y[n_train:],
        preprocessor=numeric_preprocessor(list(frame.columns)),
        task=task,
    )


@pytest.fixture(scope="session")
def binary_split() -> Split:
    """300 rows, string labels 'no'/'yes'."""
    from sklearn.datasets import make_classification

    X, y = make_classification(300, n_features=6, n_informative=4, random_state=0)
    return _split(X, np.where(y == 1, "yes", "no").astype(object), "binary", 200)


@pytest.fixture(scope="session")
def multiclass_split() -> Split:
    """300 rows, three string classes."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        300, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=1
    )
    return _split(X, np.array(["bird", "cat", "dog"], dtype=object)[y], "multiclass", 200)


@pytest.fixture(scope="session")
def regression_split() -> Split:
    from sklearn.datasets import make_regression

    X, y = make_regression(300, n_features=6, n_informative=4, noise=10.0, random_state=2)
    return _split(X, y, "regression", 200)


@pytest.fixture(scope="session")
def churn_split(churn_csv: Path) -> Split:
    """The Telco churn data (1,500 rows) with a small numeric + one-hot preprocessing."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(churn_csv).sample(1500, random_state=0).reset_index(drop=True)
    y = frame.pop("churn").to_numpy(dtype=object)
    numeric = ["tenure", "monthly_charges", "total_charges", "senior_citizen"]
    categorical = ["contract", "internet_service", "payment_method"]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    return Split(
        X_train=frame.iloc[:1000].reset_index(drop=True),
        y_train=y[:1000],
        X_valid=frame.iloc[1000:].reset_index(drop=True),
        y_valid=y[1000:],
        preprocessor=pre,
        task="binary",
    )


@pytest.fixture(autouse=True)
def _one_thread_per_fit() -> Any:
    """Tiny fits run fastest single-threaded; on a shared machine OpenMP spinning dominates."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
