"""Small real pipelines on the Telco churn data, fitted once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

NUMERIC = [
    "female", "senior_citizen", "partner", "dependents", "tenure", "phone_service",
    "paperless_billing", "monthly_charges", "total_charges",
]  # fmt: skip
CATEGORICAL = [
    "multiple_lines", "internet_service", "online_security", "online_backup",
    "device_protection", "tech_support", "streaming_tv", "streaming_movies", "contract",
    "payment_method",
]  # fmt: skip


@dataclass
class ChurnData:
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series


@pytest.fixture(scope="session")
def churn(churn_csv: Path) -> ChurnData:
    frame = pd.read_csv(churn_csv).sample(n=900, random_state=7).reset_index(drop=True)
    y = frame.pop("churn")
    X_train, X_test = frame.iloc[:650].copy(), frame.iloc[650:].reset_index(drop=True)
    # Missing values in the check rows exercise the NaN / "" input contract.
    X_test.loc[:4, "contract"] = np.nan
    X_test.loc[5:9, "total_charges"] = np.nan
    return ChurnData(X_train, y.iloc[:650], X_test, y.iloc[650:].reset_index(drop=True))


def column_transformer(*, scale: bool = True, dense: bool = False) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=not dense)),
        ]
    )
    return ColumnTransformer(
        [("num", Pipeline(numeric_steps), NUMERIC), ("cat", categorical, CATEGORICAL)]
    )


def fit(estimator: Any, data: ChurnData, **ct: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", column_transformer(**ct)), ("model", estimator)]).fit(
        data.X_train, data.y_train
    )


@pytest.fixture(scope="session")
def lr_pipeline(churn: ChurnData) -> Any:
    from sklearn.linear_model import LogisticRegression

    return fit(LogisticRegression(max_iter=1000), churn)


@pytest.fixture(scope="session")
def lgbm_pipeline(churn: ChurnData) -> Any:
    lightgbm = pytest.importorskip("lightgbm")
    return fit(
        lightgbm.LGBMClassifier(n_estimators=25, num_leaves=8, n_jobs=1, verbose=-1),
        churn,
        scale=False,
    )


@pytest.fixture(scope="session")
def xgb_pipeline(churn: ChurnData) -> Any:
    xgboost = pytest.importorskip("xgboost")
    from sklearn.pipeline import Pipeline

    # XGBoost wants 0/1 labels; trees need no scaling (and a float32 scaler in
    # ONNX would move values across XGBoost's data-valued split points).
    y = (churn.y_train == "Yes").astype(int)
    pipe = Pipeline(
        [
            ("features", column_transformer(scale=False, dense=True)),
            ("model", xgboost.XGBClassifier(n_estimators=25, max_depth=3, n_jobs=1)),
        ]
    )
    return pipe.fit(churn.X_train, y)


@pytest.fixture(scope="session")
def hgb_pipeline(churn: ChurnData) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return fit(HistGradientBoostingClassifier(max_iter=25, random_state=0), churn, dense=True)


@pytest.fixture(scope="session")
def churn_signature(churn: ChurnData, lr_pipeline: Any) -> Any:
    from conveyor.bundle import build_signature

    return build_signature(
        churn.X_train,
        task="binary",
        target="churn",
        classes=list(lr_pipeline.classes_),
        positive_class="Yes",
        threshold=0.4,
        categorical_columns=CATEGORICAL,
        nullable_columns=NUMERIC + CATEGORICAL,  # every column is imputed
    )


@pytest.fixture(scope="session")
def churn_reference(churn: ChurnData, lr_pipeline: Any) -> dict[str, Any]:
    from conveyor.bundle import build_reference

    return build_reference(
        churn.X_train,
        lr_pipeline.predict(churn.X_train),
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        seed=0,
    )


@pytest.fixture(scope="session")
def saved_lr_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    churn: ChurnData,
    lr_pipeline: Any,
    churn_signature: Any,
    churn_reference: dict[str, Any],
) -> Any:
    """A pristine bundle; tests that modify files must copy it first (see ``bundle_copy``)."""
    from conveyor.bundle import save_bundle

    return save_bundle(
        lr_pipeline,
        tmp_path_factory.mktemp("bundles") / "lr",
        signature=churn_signature,
        reference=churn_reference,
        metrics={"roc_auc": 0.84, "log_loss": np.float64(0.41), "undefined": float("nan")},
        run_id="run000000001",
        dataset_version="3",
        config_fingerprint="f" * 16,
        model_name="churn",
        X_check=churn.X_test,
    )


@pytest.fixture
def bundle_copy(saved_lr_bundle: Any, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(saved_lr_bundle.path, tmp_path / "bundle"))


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-like records: NaN becomes None, numpy scalars become Python values."""
    out = []
    for row in frame.to_dict("records"):
        out.append(
            {
                k: None
                if (isinstance(v, float) and v != v)
                else (v.item() if hasattr(v, "item") else v)
                for k, v in row.items()
            }
        )
    return out


@pytest.fixture(scope="session")
def to_records() -> Any:
    return records_of


@pytest.fixture(scope="session")
def churn_columns() -> tuple[list[str], list[str]]:
    """(numeric, categorical) column names of the churn data."""
    return NUMERIC, CATEGORICAL


@pytest.fixture(scope="session")
def fit_churn(churn: ChurnData) -> Any:
    """``fit_churn(estimator, scale=..., dense=...)`` -> a fitted churn pipeline."""
    return lambda estimator, **ct: fit(estimator, churn, **ct)
