"""Training: estimators by name or import path, fitting with early stopping, Optuna tuning.

Example:
    >>> from conveyor.train import fit_candidates
    >>> board = fit_candidates(config.models, preprocessor=pre, X_train=X, y_train=y,
    ...                        X_valid=Xv, y_valid=yv, task="binary", seed=42)  # doctest: +SKIP
    >>> board.rows  # doctest: +SKIP
"""

from __future__ import annotations

from conveyor.train.estimators import SHORT_NAMES, estimator_family, resolve_estimator
from conveyor.train.fit import Candidate, Leaderboard, fit_candidate, fit_candidates
from conveyor.train.labels import LabelEncodedClassifier
from conveyor.train.scoring import (
    METRICS,
    default_primary_metric,
    greater_is_better,
    score_predictions,
)
from conveyor.train.targets import check_target
from conveyor.train.tune import TuneResult, tune

__all__ = [
    "METRICS",
    "SHORT_NAMES",
    "Candidate",
    "LabelEncodedClassifier",
    "Leaderboard",
    "TuneResult",
    "check_target",
    "default_primary_metric",
    "estimator_family",
    "fit_candidate",
    "fit_candidates",
    "greater_is_better",
    "resolve_estimator",
    "score_predictions",
    "tune",
]
