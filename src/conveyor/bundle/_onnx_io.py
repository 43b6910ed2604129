"""ONNX inputs: the contract between raw columns and graph inputs, and feeding it.

A pipeline that starts with a ``ColumnTransformer`` gets one graph input per
raw column (numbers as float32 ``[n, 1]``, text as string ``[n, 1]``); any
other all-numeric pipeline gets one float32 ``[n, k]`` input. Missing numbers
are fed as NaN and missing text as ``""``. Values fed to a string input follow
:func:`category_text` (``1.0`` and ``1`` both become ``"1"``).

Identity-step protocol
----------------------
A custom transformer (for example one that casts to float or turns category
values into text) can tell the exporter that, given this input contract, it
does nothing in an ONNX graph, by defining::

    def onnx_passthrough(self) -> Literal["float32", "string", "any"] | None

- ``"float32"``: identity on float32 inputs; the columns it reads are fed as float32;
- ``"string"``: identity on text made by :func:`category_text`; its columns are fed as strings;
- ``"any"``: identity whatever the input (e.g. no derived features configured);
- ``None``: a real computation; it needs a registered skl2onnx converter.

A wrapping final estimator (e.g. one that encodes labels for XGBoost) can
define ``onnx_substitute(self)`` returning the fitted estimator to convert
in its place; its ``predict_proba`` columns must be in the wrapper's
``classes_`` order.

The exporter removes such steps from a copy of the pipeline before
conversion. This module never imports the classes that implement it.

Record-level leading step
-------------------------
Nested leading pipelines are spliced into the outer one first (training
builds ``Pipeline([("features", Pipeline([derived, columns])), ("model", m)])``).
If the first step then adds columns computed in Python (derived features), it
is *not* converted: the rest of the pipeline becomes the graph and the new
columns become extra graph inputs, computed per record before feeding. Such a
step defines:

- ``transform_record(record) -> dict``: the record with the new columns added;
- ``output_kinds_``: new column -> kind (``"string"`` is fed as text, any other
  kind as float32);
- ``expressions``: new column -> expression text (recorded in the manifest as
  the contract ``onnx.derived``);
- optionally ``input_kinds_``: the input columns it reads (others are not
  passed to ``transform_record``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.bundle._manifest import OnnxInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MISSING_STRING",
    "NotConvertible",
    "add_derived_columns",
    "category_text",
    "derived_expressions",
    "feeds_from_columns",
    "feeds_from_frame",
    "final_step",
    "first_step",
    "flat_steps",
    "input_contract",
    "onnx_session",
    "record_step",
    "split_record_step",
    "strip_identity_steps",
]

MISSING_STRING = ""


class NotConvertible(Exception):
    """The pipeline cannot take the ONNX path; the message is the recorded reason."""


def first_step(pipeline: Any) -> Any:
    steps = getattr(pipeline, "steps", None)
    return steps[0][1] if steps else pipeline


def final_step(pipeline: Any) -> Any:
    steps = getattr(pipeline, "steps", None)
    return steps[-1][1] if steps else pipeline


def category_text(value: Any) -> str:
    """The text a category value is fed as: ints and integral floats as integers, bools as True/False.

    Missing values (None, NaN) become ``""``.

    Example:
        >>> [category_text(v) for v in (1, 1.0, 2.5, True, "a", None)]
        ['1', '1', '2.5', 'True', 'a', '']
    """
    if value is None:
        return MISSING_STRING
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return MISSING_STRING
        return str(int(f)) if f.is_integer() else repr(f)
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return MISSING_STRING
    return str(value)


# ---------------------------------------------------------------- record-level step


def flat_steps(pipeline: Any) -> list[tuple[str, Any]] | None:
    """The steps of ``pipeline`` with nested leading pipelines spliced in (None if not a pipeline).

    Does not modify ``pipeline``.
    """
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return None
    head_name, head = steps[0]
    inner = flat_steps(head) if hasattr(head, "steps") else None
    if inner is None:
        return list(steps)
    taken = {name for name, _ in steps[1:]}
    spliced = [(f"{head_name}_{name}" if name in taken else name, step) for name, step in inner]
    return [*spliced, *steps[1:]]


def record_step(pipeline: Any) -> Any | None:
    """The leading record-level step (module docstring) of ``pipeline``, or None."""
    steps = flat_steps(pipeline)
    if not steps or len(steps) < 2:
        return None
    step = steps[0][1]
    if _passthrough(step) is not None or not callable(getattr(step, "transform_record", None)):
        return None
    kinds = getattr(step, "output_kinds_", None)
    return step if isinstance(kinds, dict) and kinds else None


def derived_expressions(step: Any) -> dict[str, str]:
    """New column -> expression text of a record-level step (the manifest's ``onnx.derived``)."""
    texts = getattr(step, "expressions", None) or {}
    return {str(name): str(texts.get(name, "")) for name in step.output_kinds_}


def split_record_step(pipeline: Any) -> tuple[Any | None, Any]:
    """(record-level step or None, the pipeline to convert) for a *copy* of a fitted pipeline."""
    from sklearn.pipeline import Pipeline

    steps = flat_steps(pipeline)
    if steps is None:
        return None, pipeline
    step = record_step(pipeline)
    if step is None:
        return None, Pipeline(steps) if len(steps) != len(pipeline.steps) else pipeline
    return step, Pipeline(steps[1:])


def add_derived_columns(step: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus the step's new columns, computed row by row as serving does."""
    reads = [str(c) for c in getattr(step, "input_kinds_", frame.columns)]
    kinds = dict(step.output_kinds_)
    values: dict[str, list[Any]] = {name: [] for name in kinds}
    transform = step.transform_record
    for row in frame[reads].to_dict("records"):
        out = transform(row)
        for name, column in values.items():
            column.append(out.get(name))
    new = {
        name: np.array(column, dtype=object)
        if kinds[name] == "string"
        else np.array([np.nan if v is None else v for v in column], dtype=np.float64)
        for name, column in values.items()
    }
    return frame.assign(**new)


# ---------------------------------------------------------------- identity steps


def _passthrough(step: Any) -> str | None:
    hint = getattr(step, "onnx_passthrough", None)
    if not callable(hint):
        return None
    value = hint()
    return value if value in ("float32", "string", "any") else None


def _strip_pipeline(pipeline: Any) -> tuple[Any, str | None]:
    """Drop identity steps from ``pipeline`` in place; returns (what is left, leading input hint)."""
    hint: str | None = None
    kept = []
    leading = True
    for name, step in pipeline.steps:
        kind = _passthrough(step)
        if kind is None:
            leading = False
            kept.append((name, step))
            continue
        if leading and kind != "any" and hint is None:
            hint = kind
    if not kept:
        return "passthrough", hint
    pipeline.steps = kept
    return pipeline, hint


def strip_identity_steps(pipeline: Any) -> dict[str, str]:
    """Remove identity steps and substitute wrappers (module docstring) in a *copy* of a pipeline.

    Returns:
        column -> tensor type ("float32" or "string") for the columns whose
        branch starts with an identity step that fixes the input type.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    hints: dict[str, str] = {}
    if isinstance(pipeline, Pipeline):
        # Leading identity steps of the outer pipeline (e.g. no derived features).
        while len(pipeline.steps) > 1 and _passthrough(pipeline.steps[0][1]) == "any":
            pipeline.steps = pipeline.steps[1:]
        name, last = pipeline.steps[-1]
        substitute = getattr(last, "onnx_substitute", None)
        if callable(substitute):
            pipeline.steps = [*pipeline.steps[:-1], (name, substitute())]
    ct = first_step(pipeline)
    if not isinstance(ct, ColumnTransformer):
        return hints
    entries = []
    for name, transformer, columns in ct.transformers_:
        hint: str | None = None
        if isinstance(transformer, Pipeline):
            transformer, hint = _strip_pipeline(transformer)
        elif not isinstance(transformer, str) and _passthrough(transformer) is not None:
            hint = _passthrough(transformer)
            transformer = "passthrough"
        if hint in ("float32", "string") and not isinstance(columns, slice):
            for column in [columns] if isinstance(columns, str) else list(columns):
                hints[str(column)] = hint
        entries.append((name, transformer, columns))
    ct.transformers_ = entries
    return hints


# ---------------------------------------------------------------- contract and feeds


def _tensor_kind(series: pd.Series) -> str:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "float32"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        raise NotConvertible(
            f"column {series.name!r} is a datetime; ONNX inputs are numbers or strings"
        )
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("string", "empty"):
        return "string"
    if inferred in ("integer", "floating", "mixed-integer-float", "boolean"):
        return "float32"
    raise NotConvertible(
        f"column {series.name!r} holds {inferred} values; ONNX inputs are numbers or strings"
    )


def input_contract(
    pipeline: Any, frame: pd.DataFrame, *, hints: Mapping[str, str] | None = None
) -> list[OnnxInput]:
    """The graph inputs the (identity-stripped) pipeline will take, in order."""
    from sklearn.compose import ColumnTransformer

    hints = hints or {}
    names = [str(c) for c in getattr(pipeline, "feature_names_in_", frame.columns)]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise NotConvertible(f"check rows lack the pipeline's input columns {missing}")
    if isinstance(first_step(pipeline), ColumnTransformer):
        return [
            OnnxInput(name=c, columns=[c], type=hints.get(c) or _tensor_kind(frame[c]))  # type: ignore[arg-type]
            for c in names
        ]
    kinds = {c: _tensor_kind(frame[c]) for c in names}
    text = [c for c, k in kinds.items() if k != "float32"]
    if text:
        raise NotConvertible(
            f"the pipeline does not start with a ColumnTransformer and has text columns {text}"
        )
    return [OnnxInput(name="input", columns=names, type="float32")]


def _as_float32(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float32)


def _as_strings(values: Sequence[Any]) -> np.ndarray:
    return np.array([category_text(v) for v in values], dtype=object)


def feeds_from_columns(
    inputs: Sequence[OnnxInput], columns: Mapping[str, Sequence[Any]]
) -> dict[str, np.ndarray]:
    """ONNX feeds from per-column Python lists (None for missing); no pandas involved."""
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        convert = _as_float32 if spec.type == "float32" else _as_strings
        if len(spec.columns) == 1:
            feeds[spec.name] = convert(columns[spec.columns[0]]).reshape(-1, 1)
        else:
            feeds[spec.name] = np.column_stack([convert(columns[c]) for c in spec.columns])
    return feeds


def _text_column(series: pd.Series) -> np.ndarray:
    import pandas as pd

    # Convert each distinct value once; rows repeat categories.
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    texts = np.array([category_text(u) for u in uniques] + [MISSING_STRING], dtype=object)
    return texts[codes]


def feeds_from_frame(inputs: Sequence[OnnxInput], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """ONNX feeds from a raw pandas frame (missing numbers NaN, missing text ``""``)."""
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        part = frame[spec.columns]
        if spec.type == "float32":
            feeds[spec.name] = part.astype("float64").to_numpy(dtype=np.float32, na_value=np.nan)
        else:
            feeds[spec.name] = np.column_stack([_text_column(part[c]) for c in spec.columns])
    return feeds


def onnx_session(model: bytes, *, threads: int = 1) -> Any:
    """An onnxruntime session on the CPU (single-threaded by default: serving runs many)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
