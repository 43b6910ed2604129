"""k-fold cross-validation of an unfitted pipeline, scored with our own metrics."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from conveyor.errors import ConfigError, DataError, ModelError
from conveyor.evaluate._common import check_task, label_array, label_text
from conveyor.evaluate.metrics import compute_metrics, metric_names

__all__ = ["cross_validate_scores", "take_rows"]


def cross_validate_scores(
    pipeline: Any,
    X: Any,
    y: Any,
    *,
    task: str,
    folds: int,
    seed: int,
    metrics: Sequence[str],
    positive_class: Any = None,
    threshold: float | None = None,
    n_jobs: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit a clone of ``pipeline`` on each of ``folds`` folds and score the held-out part.

    Classification uses ``StratifiedKFold``, regression ``KFold``, both
    shuffled with ``seed``. Binary labels use ``threshold`` (default 0.5).
    Folds are fitted on ``n_jobs`` threads (default: one per CPU, at most one
    per fold); estimators release the GIL while they fit, and each fold's
    result is the same whatever the number of threads.

    Returns:
        ``{metric: {"mean": m, "std": s, "folds": [v1, v2, …]}}``; ``std`` is
        the population standard deviation (as in scikit-learn's search
        results). A fold where a metric is undefined holds ``None`` and is
        left out of mean and std; a metric undefined in every fold is absent.

    Raises:
        ConfigError: an unknown metric or fewer than 2 folds.
        DataError: a class has fewer rows than there are folds.
        ModelError: fitting failed in a fold.
    """
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold

    check_task(task)
    metrics = list(dict.fromkeys(metrics))
    available = metric_names(task)
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise ConfigError(
            f"evaluate.cv: unknown metric(s) {', '.join(map(repr, unknown))} for a {task} task; "
            f"available: {', '.join(available)}"
        )
    if folds < 2:
        raise ConfigError(f"evaluate.cv_folds: expected at least 2 folds, got {folds}")
    y_arr = label_array(y)
    if task == "regression":
        splitter: Any = KFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        label, count = min(Counter(label_text(v) for v in y_arr).items(), key=lambda kv: kv[1])
        if count < folds:
            raise DataError(
                f"evaluate.cv_folds: {folds} stratified folds need at least {folds} rows of every "
                f"class, but class {label!r} has {count}",
                hint="lower evaluate.cv_folds or set it to null to skip cross-validation",
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)

    def run_fold(fold: int, train_idx: np.ndarray, test_idx: np.ndarray) -> Any:
        try:
            model = clone(pipeline).fit(take_rows(X, train_idx), take_rows(y, train_idx))
        except Exception as exc:
            raise ModelError(
                f"cross-validation fold {fold + 1} of {folds}: fitting failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        X_te, y_te = take_rows(X, test_idx), take_rows(y, test_idx)
        if task != "regression" and hasattr(model, "predict_proba"):
            return compute_metrics(
                task,
                y_te,
                y_proba=model.predict_proba(X_te),
                classes=list(model.classes_),
                positive_class=positive_class,
                threshold=threshold,
            )
        return compute_metrics(
            task,
            y_te,
            y_pred=model.predict(X_te),
            classes=getattr(model, "classes_", None),
            positive_class=positive_class,
        )

    splits = list(splitter.split(np.zeros(len(y_arr)), y_arr))
    workers = max(1, min(n_jobs or os.cpu_count() or 1, len(splits)))
    if workers == 1:
        fold_scores = [run_fold(i, tr, te) for i, (tr, te) in enumerate(splits)]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conveyor-cv") as pool:
            futures = [pool.submit(run_fold, i, tr, te) for i, (tr, te) in enumerate(splits)]
            fold_scores = [f.result() for f in futures]  # the first failing fold raises
    per_fold: dict[str, list[float | None]] = {m: [s.get(m) for s in fold_scores] for m in metrics}

    out: dict[str, dict[str, Any]] = {}
    for m, values in per_fold.items():
        defined = np.array([v for v in values if v is not None], dtype=float)
        if len(defined) == 0:
            continue
        out[m] = {"mean": float(defined.mean()), "std": float(defined.std()), "folds": values}
    return out


def take_rows(data: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` (positions) of a DataFrame, Series or array."""
    if hasattr(data, "iloc"):
        return data.iloc[idx]
    return np.asarray(data)[idx]
