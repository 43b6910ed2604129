"""The record-level fast path serving uses: JSON records in, predictions out.

Records are validated against the signature in plain Python, turned into
per-column arrays and fed to onnxruntime when the bundle holds a proven ONNX
model; otherwise one pandas frame is built per batch for the Python pipeline.
When the manifest lists derived features (``onnx.derived``), they are computed
per record with the pipeline's own derived step (``transform_record``, a few
microseconds a record) and fed as extra graph inputs.
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

# Batches at least this large compute derived features with the step's batch transform.
_DERIVED_FRAME_FROM = 512


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
        self._derived: Any = None
        self._derived_reads: list[str] = []
        self._fields: dict[str, Any] = {}
        if self._session is not None and info.derived:
            self._use_derived_step(info.derived)
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

    def _use_derived_step(self, expected: dict[str, str]) -> None:
        from conveyor.bundle._onnx_io import derived_expressions, record_step

        step = record_step(self.loaded.pipeline)
        found = None if step is None else derived_expressions(step)
        if found != expected:
            # The graph expects inputs only that step can compute: never guess them.
            self._session = None
            self.loaded.warnings.append(
                f"ONNX needs derived features {expected} but the pipeline computes {found}; using Python"
            )
            return
        self._derived = step
        self._fields = {f.name: f for f in self.signature.inputs}
        reads = getattr(step, "input_kinds_", None)
        names = [f.name for f in self.signature.inputs]
        self._derived_reads = [str(c) for c in reads] if reads is not None else names

    @property
    def engine(self) -> Literal["onnx", "python"]:
        """Which path answers: ``onnx`` or ``python``."""
        return "onnx" if self._session is not None else "python"

    def validate(
        self, records: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, list[Any]], list[FieldError]]:
        """Validated per-column values and the errors found (no exception)."""
        return self._validator.columns(records)

    def check_records(self, records: Sequence[dict[str, Any]]) -> None:
        """Raise :class:`InvalidRecords` if any record breaks the signature (nothing is scored).

        For micro-batching: validate each request on its own, so an error
        names its own caller's records, before the requests share a batch.
        """
        _, errors = self._validator.columns(records)
        if errors:
            raise InvalidRecords(errors, path=str(self.loaded.path))

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

        if self._derived is not None:
            columns = self._with_derived(columns)
        feeds = feeds_from_columns(self._inputs, columns)
        out = self._session.run([self._output], feeds)[0]
        return np.asarray(out, dtype=np.float64)

    def _with_derived(self, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """``columns`` plus the derived ones.

        Up to a few hundred rows, one ``transform_record`` call per row is
        fastest (~6 µs a row); the step's batch ``transform`` pays a millisecond or more for
        a pandas frame and a Polars round trip and only wins from about
        ``_DERIVED_FRAME_FROM`` rows (bench/RESULTS.md, "Serving fast path").
        Both give the values the Python pipeline uses; export proved the
        per-record one against it.
        """
        step, reads = self._derived, self._derived_reads
        names = list(step.output_kinds_)
        n = len(next(iter(columns.values())))
        if n >= _DERIVED_FRAME_FROM and all(c in self._fields for c in reads):
            import pandas as pd

            from conveyor.bundle._validate import _column_array

            frame = pd.DataFrame(
                {c: _column_array(self._fields[c], columns[c]) for c in reads},
                index=pd.RangeIndex(n),
            )
            done = step.transform(frame)
            return {**columns, **{name: done[name].tolist() for name in names}}
        out: dict[str, list[Any]] = {name: [] for name in names}
        read_columns = [columns[c] for c in reads]
        transform = step.transform_record
        for i in range(n):
            record = transform({c: col[i] for c, col in zip(reads, read_columns)})
            for name in names:
                out[name].append(record[name])
        return {**columns, **out}

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
