"""The churn example's work, written by hand: the baseline `conveyor run` is compared with.

Does what examples/churn/conveyor.yaml asks for, without Conveyor:
load the CSV with polars; clean (drop duplicate rows, trim strings, fill
``total_charges`` with its median); stratified 70/15/15 split (seed 42); one
scikit-learn feature pipeline (the two derived features, median impute +
standard scale for numbers, constant impute + one-hot with max 20 categories
for categories); fit logistic regression (C=1, max_iter=1000), LightGBM
(400 rounds, lr 0.05, 15 leaves, early stopping 30 on the validation split,
tuned by Optuna TPE over 12 trials with the median pruner on the per-round
validation loss) and a random forest (200 trees, min_samples_leaf 5); rank
them by validation ROC AUC; pick the max-F1 threshold on the validation split
and compute the test metrics of every candidate.

No schema validation, no artifact store, no caching, no reports, no bundle.

Usage: .venv/bin/python bench/handwritten_churn.py [path/to/wa_churn.csv] [--json]
Prints the phase timings (a table, or one JSON object with --json).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

T0 = time.perf_counter()

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
from sklearn import metrics as skm  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler  # noqa: E402

SEED = 42
TARGET = "churn"
NUMERIC = [
    "female", "senior_citizen", "partner", "dependents", "tenure", "phone_service",
    "paperless_billing", "monthly_charges", "total_charges", "charge_per_month", "long_contract",
]  # fmt: skip
CATEGORICAL = [
    "multiple_lines", "internet_service", "online_security", "online_backup", "device_protection",
    "tech_support", "streaming_tv", "streaming_movies", "contract", "payment_method",
]  # fmt: skip
DEFAULT_CSV = Path(__file__).resolve().parents[1] / "examples" / "churn" / "data" / "wa_churn.csv"


def derive(frame: pd.DataFrame) -> pd.DataFrame:
    """The two derived features of the config, added in the pipeline like Conveyor does."""
    out = frame.copy()
    out["charge_per_month"] = out["total_charges"].astype(float) / (out["tenure"].astype(float) + 1)
    out["long_contract"] = (out["contract"] != "Month-to-month").astype(float)
    return out


def preprocessor() -> Pipeline:
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
        ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=20,
                                 sparse_output=False)),
    ])  # fmt: skip
    columns = ColumnTransformer(
        [("numeric", numeric, NUMERIC), ("categorical", categorical, CATEGORICAL)], remainder="drop"
    )
    return Pipeline([("derived", FunctionTransformer(derive)), ("columns", columns)])


def fit_lightgbm(
    params: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    Xv: pd.DataFrame,
    yv: np.ndarray,
    trial: optuna.Trial | None = None,
) -> Pipeline:
    features = clone(preprocessor())
    Xt = features.fit_transform(X, y)
    model = lgb.LGBMClassifier(random_state=SEED, **params)
    callbacks: list[Any] = [lgb.early_stopping(30, first_metric_only=True, verbose=False)]
    if trial is not None:
        every = max(1, params["n_estimators"] // 100)

        def prune(env: Any) -> None:
            if (env.iteration + 1) % every:
                return
            trial.report(
                -env.evaluation_result_list[0][2], step=env.iteration
            )  # loss -> higher is better
            if trial.should_prune():
                raise optuna.TrialPruned()

        callbacks.append(prune)
    model.fit(
        Xt, y, eval_X=features.transform(Xv), eval_y=yv, eval_names=["valid"], callbacks=callbacks
    )
    return Pipeline([("features", features), ("model", model)])


def fit_plain(model: Any, X: pd.DataFrame, y: np.ndarray) -> Pipeline:
    return Pipeline([("features", clone(preprocessor())), ("model", model)]).fit(X, y)


def max_f1_threshold(y: np.ndarray, proba: np.ndarray) -> float:
    precision, recall, cuts = skm.precision_recall_curve(y, proba)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(cuts[int(np.argmax(f1))])


def test_metrics(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (proba >= threshold).astype(int)
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro"),
        "f1_weighted": skm.f1_score(y, pred, average="weighted"),
        "precision_macro": skm.precision_score(y, pred, average="macro", zero_division=0),
        "recall_macro": skm.recall_score(y, pred, average="macro"),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "brier": skm.brier_score_loss(y, proba),
        "roc_auc": skm.roc_auc_score(y, proba),
        "pr_auc": skm.average_precision_score(y, proba),
        "log_loss": skm.log_loss(y, proba),
    }


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    csv = Path(args[0]) if args else DEFAULT_CSV
    phases: dict[str, float] = {"imports": time.perf_counter() - T0}

    t = time.perf_counter()
    frame = pl.read_csv(csv)
    frame = frame.unique(maintain_order=True)
    frame = frame.with_columns(pl.col(pl.String).str.strip_chars())
    frame = frame.with_columns(pl.col("total_charges").fill_null(pl.col("total_charges").median()))
    data = frame.to_pandas()
    y_all = (data.pop(TARGET) == "Yes").to_numpy().astype(int)
    X_train, X_rest, y_train, y_rest = train_test_split(
        data, y_all, test_size=0.3, stratify=y_all, random_state=SEED
    )
    X_valid, X_test, y_valid, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=SEED
    )
    phases["load_clean_split"] = time.perf_counter() - t

    t = time.perf_counter()
    base = {"n_estimators": 400, "learning_rate": 0.05, "num_leaves": 15, "verbose": -1}

    def objective(trial: optuna.Trial) -> float:
        params = {
            **base,
            "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 100),
        }
        pipe = fit_lightgbm(params, X_train, y_train, X_valid, y_valid, trial)
        return skm.roc_auc_score(y_valid, pipe.predict_proba(X_valid)[:, 1])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=SEED),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=10),
    )
    study.optimize(objective, n_trials=12)
    phases["tune_lightgbm"] = time.perf_counter() - t

    t = time.perf_counter()
    candidates = {
        "logreg": fit_plain(
            LogisticRegression(C=1.0, max_iter=1000, random_state=SEED), X_train, y_train
        ),
        "lightgbm": fit_lightgbm({**base, **study.best_params}, X_train, y_train, X_valid, y_valid),
        "random_forest": fit_plain(
            RandomForestClassifier(n_estimators=200, min_samples_leaf=5, random_state=SEED),
            X_train,
            y_train,
        ),
    }
    valid_proba = {name: p.predict_proba(X_valid)[:, 1] for name, p in candidates.items()}
    ranking = sorted(candidates, key=lambda n: -skm.roc_auc_score(y_valid, valid_proba[n]))
    phases["fit_candidates"] = time.perf_counter() - t

    t = time.perf_counter()
    results = {}
    for name in ranking:
        cut = max_f1_threshold(y_valid, valid_proba[name])
        results[name] = test_metrics(y_test, candidates[name].predict_proba(X_test)[:, 1], cut)
    phases["test_metrics"] = time.perf_counter() - t
    phases["total_in_process"] = time.perf_counter() - T0

    summary = {
        "rows": {"train": len(y_train), "validation": len(y_valid), "test": len(y_test)},
        "ranking": ranking,
        "test_roc_auc": {n: round(r["roc_auc"], 4) for n, r in results.items()},
        "best_lgbm_params": study.best_params,
    }
    if "--json" in sys.argv:
        print(json.dumps({"phases": phases, **summary}))
        return
    print(f"{'phase':<20} {'s':>8}")
    for name, secs in phases.items():
        print(f"{name:<20} {secs:>8.3f}")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
