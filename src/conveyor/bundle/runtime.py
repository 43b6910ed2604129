"""The record-level fast path serving uses: JSON records in, predictions out.

Records are validated against the signature in plain Python, turned into
per-column arrays and fed to onnxruntime when the bundle holds a proven ONNX
model; otherwise one pandas frame is built per batch for the Python pipeline.
Both paths return the same output shape:

- classifiers: ``{"label": ..., "probabilities": {"No": 0.8, "Yes": 0.2}}``
  plus ``"threshold"`` for binary models (label = positive class when
  P(positive) >= threshold);
- regressors: ``{"value": 12.5}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from conveyor.bundle._validate import FieldError
from conveyor.errors import SchemaError

if TYPE_CHECKING:
    from conveyor.bundle._bundle import LoadedBundle

__all__ = ["BundleRuntime", "InvalidRecords"]


class InvalidRecords(SchemaError):
    """Request records broke the signature; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError], *, path: str = "") -> None:
        shown = "; ".join(e.message for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        where = f"bundle {path}: " if path else ""
        super().__init__(
            f"{where}{len(errors)} invalid field(s): {shown}{more}",
            hint="send the fields listed in the model's signature with their declared types",
        )
        self.errors = errors


class BundleRuntime:
    """Predict from JSON-like records with a loaded bundle.

    Args:
        loaded: the bundle from :func:`load_bundle`.
        use_onnx: use ``model.onnx`` when present (else always Python).
        strict_categories: reject categories unseen in training (default, as in
            :meth:`Signature.validate_records`); False lets the encoders map
            them to "unknown".
        strict_ranges: reject values outside the training range.
        extra: ``"ignore"`` or ``"reject"`` unknown fields.

    Example:
        >>> runtime = load_bundle(path, expected_manifest_digest=d).runtime()  # doctest: +SKIP
        >>> runtime.predict_records([{"tenure": 3, "contract": "One year", ...}])  # doctest: +SKIP
        [{'label': 'No', 'probabilities': {'No': 0.91, 'Yes': 0.09}, 'threshold': 0.42}]
    """

    def __init__(
        self,
        loaded: LoadedBundle,
        *,
        use_onnx: bool = True,
        strict_categories: bool = True,
        strict_ranges: bool = False,
        extra: Literal["ignore", "reject"] = "ignore",
    ) -> None:
        self.loaded = loaded
        sig = loaded.signature
        self.signature = sig
        self._validator = sig.validator(
            strict_categories=strict_categories, strict_ranges=strict_ranges, extra=extra
        )
        info = loaded.manifest.onnx
        self._session = loaded.onnx_session if use_onnx else None
        if self._session is not None and sig.is_classifier and info.classes != sig.classes:
            # The probability columns would be mislabelled: never serve that.
            self._session = None
            loaded.warnings.append(
                f"ONNX class order {info.classes} differs from the signature's {sig.classes}; using Python"
            )
        self._inputs = info.inputs
        self._output = info.output
        self._classes = list(sig.classes or [])
        self._keys = [str(c) for c in self._classes]
        self._threshold = None
        self._pos = 1
        if sig.task == "binary":
            self._threshold = 0.5 if sig.threshold is None else float(sig.threshold)
            if sig.positive_class in self._classes:
                self._pos = self._classes.index(sig.positive_class)

    @property
    def engine(self) -> Literal["onnx", "python"]:
        """Which path answers: ``onnx`` or ``python``."""
        return "onnx" if self._session is not None else "python"

    def validate(
        self, records: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, list[Any]], list[FieldError]]:
        """Validated per-column values and the errors found (no exception)."""
        return self._validator.columns(records)

    def predict_records(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate ``records`` and predict them.

        Raises:
            InvalidRecords: any field failed validation (``.errors`` lists them all).
        """
        columns, errors = self._validator.columns(records)
        if errors:
            raise InvalidRecords(errors, path=str(self.loaded.path))
        return self.predict_columns(columns)

    def predict_columns(self, columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
        """Predict already-validated columns (from :meth:`validate`)."""
        if not columns or not next(iter(columns.values())):
            return []
        raw = self._run_onnx(columns) if self._session is not None else self._run_python(columns)
        return self._format(raw)

    def _run_onnx(self, columns: dict[str, list[Any]]) -> np.ndarray:
        from conveyor.bundle.onnx_export import feeds_from_columns

        feeds = feeds_from_columns(self._inputs, columns)
        out = self._session.run([self._output], feeds)[0]
        return np.asarray(out, dtype=np.float64)

    def _run_python(self, columns: dict[str, list[Any]]) -> np.ndarray:
        frame = self._validator.frame(columns)
        pipeline = self.loaded.pipeline
        if self.signature.is_classifier:
            return np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        return np.asarray(pipeline.predict(frame), dtype=np.float64)

    def _format(self, raw: np.ndarray) -> list[dict[str, Any]]:
        if not self.signature.is_classifier:
            return [{"value": v} for v in raw.reshape(-1).tolist()]
        keys, classes = self._keys, self._classes
        rows = raw.tolist()
        if self._threshold is not None:
            pos, neg, t = self._pos, 1 - self._pos, self._threshold
            return [
                {
                    "label": classes[pos] if row[pos] >= t else classes[neg],
                    "probabilities": dict(zip(keys, row)),
                    "threshold": t,
                }
                for row in rows
            ]
        best = raw.argmax(axis=1).tolist()
        return [
            {"label": classes[b], "probabilities": dict(zip(keys, row))}
            for b, row in zip(best, rows)
        ]
