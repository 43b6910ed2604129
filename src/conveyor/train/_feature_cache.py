"""Fitted features steps shared by the fits that use the same preprocessor on the same rows."""

from __future__ import annotations

import copy
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FeatureCache"]


@dataclass
class _Entry:
    features: Any
    X_fit: Any
    X_eval: Any = None


class FeatureCache:
    """The fitted features step of one preprocessor, per set of rows it was fitted on.

    The caller names each set of rows with a key (``"holdout"``, ``("fold", 5, 42, 3)``)
    and guarantees that a key always means the same rows and target. Each fit gets its
    own copy of the fitted step; the cached matrices are made read-only, so an estimator
    that wrote into its input would fail instead of corrupting the next fit. Entries
    beyond ``max_bytes`` of matrices are fitted as usual and not kept. Safe to share
    between threads (a second fit on a key waits for the first); a pickled cache (sent to
    a Dask worker) arrives empty.

    Example:
        >>> cache = FeatureCache(preprocessor)  # doctest: +SKIP
        >>> for params in trials:  # doctest: +SKIP
        ...     fit_pipeline(make(params), preprocessor=preprocessor, X_train=X, y_train=y,
        ...                  X_valid=Xv, y_valid=yv, feature_cache=cache, rows="holdout")
    """

    def __init__(self, preprocessor: Any, *, max_bytes: int = 1 << 30) -> None:
        self.preprocessor = preprocessor
        self.max_bytes = max_bytes
        self.fits = 0
        """How many times the features step was actually fitted (hits do not count)."""
        self._entries: dict[Hashable, _Entry] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"preprocessor": self.preprocessor, "max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["preprocessor"], max_bytes=state["max_bytes"])  # type: ignore[misc]

    def fitted(
        self, rows: Hashable, X_fit: Any, y_fit: np.ndarray, X_eval: Any = None
    ) -> tuple[Any, Any, Any]:
        """``(features step, X_fit transformed, X_eval transformed or None)`` for ``rows``."""
        with self._lock:
            key_lock = self._key_locks.setdefault(rows, threading.Lock())
        with key_lock:
            entry = self._entries.get(rows)
            hit = entry is not None
            if entry is None:
                from sklearn.base import clone

                features = clone(self.preprocessor)
                entry = _Entry(features, features.fit_transform(X_fit, y_fit))
                with self._lock:  # fits on other keys may finish at the same time
                    self.fits += 1
            X_eval_t = entry.X_eval if X_eval is not None else None
            if X_eval is not None and X_eval_t is None:
                X_eval_t = entry.features.transform(X_eval)
            if not hit:
                size = _nbytes(entry.X_fit) + (0 if X_eval_t is None else _nbytes(X_eval_t))
                if not self._reserve(size):
                    return entry.features, entry.X_fit, X_eval_t
                entry.X_fit, entry.X_eval = _read_only(entry.X_fit), _read_only(X_eval_t)
                self._entries[rows] = entry
            elif entry.X_eval is None and X_eval_t is not None and self._reserve(_nbytes(X_eval_t)):
                entry.X_eval = _read_only(X_eval_t)
            return copy.deepcopy(entry.features), entry.X_fit, X_eval_t

    def _reserve(self, size: int) -> bool:
        with self._lock:
            if self._bytes + size > self.max_bytes:
                return False
            self._bytes += size
        return True


def _nbytes(matrix: Any) -> int:
    if hasattr(matrix, "nbytes"):
        return int(matrix.nbytes)
    if hasattr(matrix, "data") and hasattr(matrix, "indices"):  # scipy sparse
        return int(matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes)
    if hasattr(matrix, "memory_usage"):  # pandas output
        return int(matrix.memory_usage(deep=True).sum())
    return 1 << 62  # unknown: never cached


def _read_only(matrix: Any) -> Any:
    for array in (matrix, getattr(matrix, "data", None)):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return matrix
