"""ONNX inputs: the contract between raw columns and graph inputs, and feeding it.

A pipeline that starts with a ``ColumnTransformer`` gets one graph input per
raw column (numbers as float32 ``[n, 1]``, text as string ``[n, 1]``); any
other all-numeric pipeline gets one float32 ``[n, k]`` input. Missing numbers
are fed as NaN and missing text as ``""`` (see ``export_onnx`` for why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.bundle._manifest import OnnxInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MISSING_STRING",
    "NotConvertible",
    "feeds_from_columns",
    "feeds_from_frame",
    "final_step",
    "first_step",
    "input_contract",
    "onnx_session",
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


def input_contract(pipeline: Any, frame: pd.DataFrame) -> list[OnnxInput]:
    """The graph inputs the converted pipeline will take, in order."""
    from sklearn.compose import ColumnTransformer

    names = [str(c) for c in getattr(pipeline, "feature_names_in_", frame.columns)]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise NotConvertible(f"check rows lack the pipeline's input columns {missing}")
    if isinstance(first_step(pipeline), ColumnTransformer):
        return [OnnxInput(name=c, columns=[c], type=_tensor_kind(frame[c])) for c in names]  # type: ignore[arg-type]
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
    return np.array([MISSING_STRING if v is None else str(v) for v in values], dtype=object)


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


def feeds_from_frame(inputs: Sequence[OnnxInput], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """ONNX feeds from a raw pandas frame (missing numbers NaN, missing text ``""``)."""
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        part = frame[spec.columns]
        if spec.type == "float32":
            feeds[spec.name] = part.astype("float64").to_numpy(dtype=np.float32, na_value=np.nan)
        else:
            arr = part.to_numpy(dtype=object)
            mask = part.isna().to_numpy()
            feeds[spec.name] = np.where(mask, MISSING_STRING, arr.astype(str)).astype(object)
    return feeds


def onnx_session(model: bytes, *, threads: int = 1) -> Any:
    """An onnxruntime session on the CPU (single-threaded by default: serving runs many)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
