"""A classifier wrapper that lets estimators needing 0..k-1 labels take any labels.

XGBoost's scikit-learn classes refuse string labels (and integer labels that
are not exactly 0..k-1). :class:`LabelEncodedClassifier` encodes the labels
before fitting and decodes predictions, so the fitted pipeline answers in the
original labels. It holds only plain attributes, so pickle and skops can
serialise it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone

__all__ = ["LabelEncodedClassifier"]


class LabelEncodedClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit ``estimator`` on labels encoded to 0..k-1; predict original labels.

    Args:
        estimator: an unfitted classifier with ``fit`` / ``predict`` /
            ``predict_proba``; cloned on ``fit``.

    Attributes:
        estimator_: the fitted inner classifier.
        classes_: the original class labels, sorted; column order of
            ``predict_proba``.
        label_encoder_: the fitted :class:`~sklearn.preprocessing.LabelEncoder`.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> clf = LabelEncodedClassifier(LogisticRegression())
        >>> clf.fit([[0.0], [1.0], [0.1], [0.9]], ["no", "yes", "no", "yes"]).predict([[1.0]])
        array(['yes'], dtype=object)
    """

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelEncodedClassifier:
        """Encode ``y`` (and the labels of any ``eval_set``) and fit a clone of ``estimator``.

        Extra keyword arguments go to the inner ``fit``; an ``eval_set`` of
        ``(X, y)`` pairs has its labels encoded the same way.
        """
        from sklearn.preprocessing import LabelEncoder

        if self.estimator is None:
            raise ValueError("LabelEncodedClassifier needs an 'estimator'")
        encoder = LabelEncoder().fit(np.asarray(y, dtype=object))
        if "eval_set" in fit_params and fit_params["eval_set"] is not None:
            fit_params["eval_set"] = [
                (X_eval, encoder.transform(np.asarray(y_eval, dtype=object)))
                for X_eval, y_eval in fit_params["eval_set"]
            ]
        self.label_encoder_ = encoder
        self.classes_ = encoder.classes_
        self.estimator_ = clone(self.estimator).fit(
            X, encoder.transform(np.asarray(y, dtype=object)), **fit_params
        )
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, in the original label space."""
        codes = np.asarray(self.estimator_.predict(X)).astype(np.int64).ravel()
        return self.classes_[codes]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities; columns follow ``classes_``."""
        return self.estimator_.predict_proba(X)

    def onnx_substitute(self) -> Any:
        """The estimator ONNX export converts in place of this wrapper (same column order)."""
        return self.estimator_

    @property
    def feature_importances_(self) -> np.ndarray:
        """The inner estimator's feature importances."""
        return self.estimator_.feature_importances_
