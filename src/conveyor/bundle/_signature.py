"""The model signature: what a bundle accepts and what it answers.

Built once from the training frame (``build_signature``) and saved as
``signature.json``. Serving builds its request model from it, batch scoring
validates input files with it, and :meth:`Signature.validate_records` is the
fast per-request check (plain Python per value, one frame per batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from conveyor.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.bundle._validate import FieldError, RecordValidator

__all__ = [
    "SIGNATURE_FORMAT_VERSION",
    "FieldKind",
    "FieldType",
    "InputField",
    "OutputField",
    "Signature",
    "Task",
    "build_signature",
]

SIGNATURE_FORMAT_VERSION = 1

FieldType = Literal["number", "integer", "boolean", "string", "datetime"]
FieldKind = Literal["numeric", "categorical", "text", "datetime"]
Task = Literal["binary", "multiclass", "regression"]
JSONScalar = str | bool | int | float

_MAX_CATEGORIES = 1000


class InputField(BaseModel):
    """One input column of the model.

    Attributes:
        name: column name as the pipeline expects it.
        type: JSON-level type a request must send.
        kind: how the features treat it (drives drift statistics and ONNX inputs).
        nullable: whether null (or an absent key) is accepted.
        categories: allowed values of a categorical column (None: not checked,
            e.g. more than 1000 distinct values were seen).
        minimum: smallest training value (numbers; ISO text for datetimes).
        maximum: largest training value.
        dtype: pandas dtype at training time, used to rebuild frames faithfully.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: FieldType
    kind: FieldKind
    nullable: bool = False
    categories: list[JSONScalar] | None = None
    minimum: float | int | str | None = None
    maximum: float | int | str | None = None
    dtype: str = "object"


class OutputField(BaseModel):
    """One field of a prediction response."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["number", "integer", "boolean", "string", "object"]
    description: str = ""


class Signature(BaseModel):
    """Inputs, outputs and decision rule of a bundled model (``signature.json``).

    Example:
        >>> sig = Signature.model_validate_json(path.read_text())  # doctest: +SKIP
        >>> frame, errors = sig.validate_records([{"tenure": 3, "contract": "One year"}])  # doctest: +SKIP
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = SIGNATURE_FORMAT_VERSION
    task: Task
    target: str
    inputs: list[InputField]
    outputs: list[OutputField]
    classes: list[JSONScalar] | None = None
    positive_class: JSONScalar | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)

    @property
    def input_names(self) -> list[str]:
        """Input column names in training order."""
        return [f.name for f in self.inputs]

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    def field(self, name: str) -> InputField:
        """The input field called ``name``; ModelError naming the known fields otherwise."""
        for f in self.inputs:
            if f.name == name:
                return f
        raise ModelError(
            f"signature: no input field {name!r} (fields: {', '.join(self.input_names)})"
        )

    def validator(
        self,
        *,
        strict_categories: bool = True,
        strict_ranges: bool = False,
        extra: Literal["ignore", "reject"] = "ignore",
    ) -> RecordValidator:
        """A record validator compiled for these options; build it once and reuse it per request."""
        from conveyor.bundle._validate import RecordValidator

        if extra not in ("ignore", "reject"):
            raise ModelError(f"signature: extra must be 'ignore' or 'reject', got {extra!r}")
        return RecordValidator(
            self, strict_categories=strict_categories, strict_ranges=strict_ranges, extra=extra
        )

    def validate_records(
        self,
        records: Sequence[dict[str, Any]],
        *,
        strict_categories: bool = True,
        strict_ranges: bool = False,
        extra: Literal["ignore", "reject"] = "ignore",
    ) -> tuple[pd.DataFrame, list[FieldError]]:
        """Check request records against the inputs and build the model's input frame.

        Args:
            records: JSON-like dicts, one per row.
            strict_categories: reject values outside a categorical field's training categories.
            strict_ranges: reject numbers/datetimes outside the training [min, max].
            extra: ``"ignore"`` drops unknown keys, ``"reject"`` reports them.

        Returns:
            The frame (one row per record, training column order and dtypes; a
            cell that failed validation is null) and the list of errors, each
            naming the record index, the field and the problem. Callers decide:
            serving answers 422 when the list is not empty, batch scoring may
            drop the rows named in it.
        """
        validator = self.validator(
            strict_categories=strict_categories, strict_ranges=strict_ranges, extra=extra
        )
        columns, errors = validator.columns(records)
        return validator.frame(columns), errors

    def decide_many(self, probabilities: Any) -> Any:
        """Labels for a ``(rows, classes)`` array of probabilities (binary: the threshold).

        The vectorised :meth:`decide`, for batch scoring and reference statistics.
        """
        import numpy as np

        proba = np.asarray(probabilities, dtype=np.float64)
        labels = np.asarray(self.classes or [])
        if self.task == "binary" and len(labels) == 2:
            classes = list(self.classes or [])
            pos = classes.index(self.positive_class) if self.positive_class in classes else 1
            threshold = 0.5 if self.threshold is None else self.threshold
            return np.where(proba[:, pos] >= threshold, labels[pos], labels[1 - pos])
        return labels[np.argmax(proba, axis=1)]

    def decide(self, probabilities: Sequence[float]) -> JSONScalar:
        """The label for one row of class probabilities (binary: the decision threshold)."""
        classes = self.classes or []
        if self.task == "binary" and len(classes) == 2:
            pos = classes.index(self.positive_class) if self.positive_class in classes else 1
            threshold = 0.5 if self.threshold is None else self.threshold
            return classes[pos] if probabilities[pos] >= threshold else classes[1 - pos]
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return classes[best]


# ---------------------------------------------------------------- building


def build_signature(
    X_train: pd.DataFrame,
    *,
    task: Task,
    target: str,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
    threshold: float | None = None,
    categorical_columns: Iterable[str] = (),
    text_columns: Iterable[str] = (),
    nullable_columns: Iterable[str] | None = None,
) -> Signature:
    """Describe the model's inputs and outputs from the training frame.

    Args:
        X_train: the raw frame the pipeline was fitted on (features only).
        task: ``binary``, ``multiclass`` or ``regression``.
        target: name of the target column (recorded, never an input).
        classes: the classifier's ``classes_`` (required for classification).
        positive_class: binary only; default the second class.
        threshold: binary only; decision threshold on P(positive), default 0.5.
        categorical_columns: columns encoded as categories (their values are listed).
        text_columns: free-text columns (type string, no categories).
        nullable_columns: columns that accept null; default: those with a
            missing value in ``X_train``.

    Example:
        >>> sig = build_signature(X, task="binary", target="churn", classes=["No", "Yes"],
        ...                       positive_class="Yes", threshold=0.4,
        ...                       categorical_columns=["contract"])  # doctest: +SKIP
    """
    import pandas as pd

    if not isinstance(X_train, pd.DataFrame):
        raise ModelError(
            f"build_signature: X_train must be a pandas DataFrame, got {type(X_train).__name__}"
        )
    if target in X_train.columns:
        raise ModelError(f"build_signature: the target column {target!r} is among the inputs")
    categorical = set(categorical_columns)
    text = set(text_columns)
    unknown = (categorical | text) - {str(c) for c in X_train.columns}
    if unknown:
        raise ModelError(
            f"build_signature: columns {sorted(unknown)} are not in the training frame "
            f"(columns: {', '.join(map(str, X_train.columns))})"
        )
    nullable = set(nullable_columns) if nullable_columns is not None else None
    inputs = [
        _input_field(
            X_train[name], str(name), categorical=categorical, text=text, nullable=nullable
        )
        for name in X_train.columns
    ]
    classes_json = [_to_json_scalar(c) for c in classes] if classes is not None else None
    if task != "regression":
        if not classes_json or len(classes_json) < 2:
            raise ModelError(
                f"build_signature: a {task} model needs at least 2 classes, got {classes_json}"
            )
        if task == "binary" and len(classes_json) != 2:
            raise ModelError(f"build_signature: a binary model needs 2 classes, got {classes_json}")
    pos = _to_json_scalar(positive_class) if positive_class is not None else None
    if task == "binary":
        assert classes_json is not None
        if pos is None:
            pos = classes_json[1]
        elif pos not in classes_json:
            raise ModelError(
                f"build_signature: positive_class {pos!r} is not one of the classes {classes_json}"
            )
        threshold = 0.5 if threshold is None else float(threshold)
    else:
        pos, threshold = None, None
    return Signature(
        task=task,
        target=target,
        inputs=inputs,
        outputs=_outputs(task, classes_json),
        classes=classes_json if task != "regression" else None,
        positive_class=pos,
        threshold=threshold,
    )


def _outputs(task: Task, classes: list[JSONScalar] | None) -> list[OutputField]:
    if task == "regression":
        return [OutputField(name="value", type="number", description="predicted value")]
    label_type = _json_type_of(classes[0]) if classes else "string"
    out = [
        OutputField(
            name="label", type=label_type, description=f"predicted class, one of {classes}"
        ),
        OutputField(
            name="probabilities",
            type="object",
            description="probability per class, keyed by the class label as text",
        ),
    ]
    if task == "binary":
        out.append(
            OutputField(
                name="threshold", type="number", description="decision threshold on P(positive)"
            )
        )
    return out


def _json_type_of(value: JSONScalar) -> Literal["number", "integer", "boolean", "string"]:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _field_type(series: pd.Series) -> FieldType:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {
        "boolean": "boolean",
        "integer": "integer",
        "floating": "number",
        "mixed-integer-float": "number",
        "decimal": "number",
        "datetime": "datetime",
        "datetime64": "datetime",
        "date": "datetime",
    }.get(inferred, "string")  # type: ignore[return-value]


def _input_field(
    series: pd.Series,
    name: str,
    *,
    categorical: set[str],
    text: set[str],
    nullable: set[str] | None,
) -> InputField:
    ftype = _field_type(series)
    if name in text:
        kind: FieldKind = "text"
    elif name in categorical:
        kind = "categorical"
    elif ftype == "datetime":
        kind = "datetime"
    elif ftype == "string":
        kind = "categorical"
    else:
        kind = "numeric"
    values = series.dropna()
    categories = minimum = maximum = None
    if kind == "categorical":
        uniques = values.unique()
        if len(uniques) <= _MAX_CATEGORIES:
            categories = sorted(
                (_to_json_scalar(v) for v in uniques), key=lambda v: (str(type(v)), v)
            )
    elif kind == "numeric" and ftype in ("number", "integer") and len(values):
        minimum, maximum = _to_json_scalar(values.min()), _to_json_scalar(values.max())
    elif kind == "datetime" and len(values):
        minimum, maximum = _iso(values.min()), _iso(values.max())
    is_nullable = bool(series.isna().any()) if nullable is None else name in nullable
    return InputField(
        name=name,
        type=ftype,
        kind=kind,
        nullable=is_nullable,
        categories=categories,
        minimum=minimum,
        maximum=maximum,
        dtype=str(series.dtype),
    )


def _iso(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _to_json_scalar(value: Any) -> JSONScalar:
    """A numpy/pandas scalar as the plain JSON value it stands for."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
