"""ONNX export of a fitted pipeline, kept only when proven equal to Python.

The raw input columns become graph inputs (numbers as float32 ``[n, 1]``,
text as string ``[n, 1]``) when the pipeline starts with a
``ColumnTransformer``; an all-numeric pipeline gets one float32 ``[n, k]``
input. A leading derived-features step is not converted: its new columns are
computed per record in Python (float64, then cast like any number) and become
extra graph inputs; the manifest records them as ``onnx.derived`` (see
:mod:`conveyor.bundle._onnx_io`, "Record-level leading step"). The converted graph is run with onnxruntime on the check rows (the test
split) and compared with the Python pipeline; the ONNX model is kept only when
the largest difference is within tolerance. Anything that fails (an
unsupported transformer, TF-IDF, a custom class, a too-large difference) is
recorded as the reason and the bundle keeps the Python path. Export never
raises for a model that merely does not convert.

Three known converter gaps are bridged here (on a private copy):

* ``SimpleImputer`` on text columns imputes NaN, which skl2onnx refuses
  ("missing values are string"); on a copy, its ``missing_values`` becomes
  ``""`` and missing strings are fed as ``""`` (recorded in the contract).
* ``OneHotEncoder(handle_unknown="infrequent_if_exist")`` that found no
  infrequent category behaves like ``"ignore"`` in scikit-learn, but skl2onnx
  emits an encoder that fails on an unseen category; it is set to ``"ignore"``.
* HistGradientBoosting in skl2onnx 1.20 fails with "Expected an int, got a
  boolean": the converter passes the Python literal ``False`` as the
  missing-value flag of every *leaf* into ``nodes_missing_value_tracks_true``
  (an INTS attribute, which recent ``onnx`` refuses to fill with bools; split
  nodes carry ``numpy.uint8`` and pass). No attribute of the estimator is at
  fault, so :func:`patch_hist_gradient_boosting_converter` wraps the
  converter's ``add_node`` helper to coerce the flag to ``int``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.bundle._manifest import OnnxInfo, OnnxInput
from conveyor.bundle._onnx_io import (
    MISSING_STRING,
    NotConvertible,
    add_derived_columns,
    derived_expressions,
    feeds_from_columns,
    feeds_from_frame,
    final_step,
    input_contract,
    onnx_session,
    split_record_step,
    strip_identity_steps,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_TOLERANCE",
    "OnnxExport",
    "export_onnx",
    "feeds_from_columns",
    "feeds_from_frame",
    "input_contract",
    "onnx_session",
    "patch_hist_gradient_boosting_converter",
    "register_boosting_converters",
]

DEFAULT_TOLERANCE = 1e-4
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
_MAX_CHECK_ROWS = 5000


@dataclass(frozen=True)
class OnnxExport:
    """The serialised ONNX model (None when not kept) and what the manifest records."""

    model: bytes | None
    info: OnnxInfo


# ---------------------------------------------------------------- converter setup


def register_boosting_converters(libraries: frozenset[str] | None = None) -> tuple[str, ...]:
    """Register onnxmltools converters for LightGBM/XGBoost estimators that are installed.

    Args:
        libraries: register only these (``{"lightgbm"}``); None registers both. Importing
            XGBoost costs a few hundred milliseconds a LightGBM model need not pay.

    Returns the names registered (registration happens once per process and library).
    """
    wanted = ("lightgbm", "xgboost") if libraries is None else sorted(libraries)
    done: list[str] = []
    for library in wanted:
        if library == "lightgbm":
            done += _register_lightgbm()
        elif library == "xgboost":
            done += _register_xgboost()
    return tuple(done)


_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


@functools.cache
def _register_lightgbm() -> tuple[str, ...]:
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        return ()
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        options={"split": None},
    )
    return ("LGBMClassifier", "LGBMRegressor")


@functools.cache
def _register_xgboost() -> tuple[str, ...]:
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:
        return ()
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        XGBClassifier,
        "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes,
        convert_xgboost,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        XGBRegressor,
        "XGBoostXGBRegressor",
        calculate_linear_regressor_output_shapes,
        convert_xgboost,
    )
    return ("XGBClassifier", "XGBRegressor")


def _libraries(pipeline: Any) -> frozenset[str]:
    """Top-level packages of the pipeline and every estimator nested in its parameters."""
    found = {type(pipeline).__module__.split(".")[0]}
    for value in pipeline.get_params(deep=True).values():
        if hasattr(value, "get_params"):
            found.add(type(value).__module__.split(".")[0])
    return frozenset(found)


def patch_hist_gradient_boosting_converter() -> bool:
    """Make skl2onnx's tree helper pass the missing-value flag as an int (idempotent).

    Returns True when the patch is (now) installed.
    """
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node
    if getattr(original, "_conveyor_int_flags", False):
        return True

    @functools.wraps(original)
    def add_node(*args: Any, **kwargs: Any) -> Any:
        flag = kwargs.get("nodes_missing_value_tracks_true")
        if flag is not None:
            kwargs["nodes_missing_value_tracks_true"] = int(flag)
        return original(*args, **kwargs)

    add_node._conveyor_int_flags = True  # type: ignore[attr-defined]
    tree_ensemble.add_node = add_node
    return True


# ---------------------------------------------------------------- conversion


def _walk(estimator: Any) -> list[Any]:
    """The estimator and every estimator nested in pipelines, column transformers and unions."""
    found = [estimator]
    for _, step in getattr(estimator, "steps", []) or []:
        found += _walk(step)
    for entry in getattr(estimator, "transformers_", []) or []:
        if not isinstance(entry[1], str):
            found += _walk(entry[1])
    for _, part in getattr(estimator, "transformer_list", []) or []:
        if not isinstance(part, str):
            found += _walk(part)
    return found


def _patch_string_imputers(pipeline: Any) -> int:
    from sklearn.impute import SimpleImputer

    patched = 0
    for est in _walk(pipeline):
        if not isinstance(est, SimpleImputer):
            continue
        stats = getattr(est, "statistics_", None)
        mv = est.missing_values
        is_nan = isinstance(mv, float) and mv != mv
        if stats is not None and stats.dtype.kind == "O" and (is_nan or mv is None):
            est.missing_values = MISSING_STRING
            patched += 1
    return patched


def _patch_infrequent_encoders(pipeline: Any) -> int:
    """``infrequent_if_exist`` with no infrequent category is ``ignore``; say so to skl2onnx.

    skl2onnx otherwise builds an encoder that fails on unseen categories
    (``zeros=0``) where scikit-learn outputs all zeros.
    """
    from sklearn.preprocessing import OneHotEncoder

    patched = 0
    for est in _walk(pipeline):
        if not isinstance(est, OneHotEncoder) or est.handle_unknown != "infrequent_if_exist":
            continue
        if all(c is None for c in getattr(est, "infrequent_categories_", [None])):
            est.handle_unknown = "ignore"
            patched += 1
    return patched


def _python_outputs(pipeline: Any, frame: pd.DataFrame, *, classifier: bool) -> np.ndarray:
    if classifier:
        return np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
    return np.asarray(pipeline.predict(frame), dtype=np.float64).reshape(-1)


def _is_classifier(pipeline: Any) -> bool:
    from sklearn.base import is_classifier

    final = final_step(pipeline)
    return bool(is_classifier(final) or hasattr(final, "classes_"))


def _converter_versions() -> dict[str, str]:
    import importlib.metadata

    out = {}
    for name in ("skl2onnx", "onnxmltools", "onnxruntime", "onnx"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def export_onnx(
    pipeline: Any,
    X_check: pd.DataFrame,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_check_rows: int = _MAX_CHECK_ROWS,
) -> OnnxExport:
    """Convert ``pipeline`` to ONNX and keep it only if it matches Python on ``X_check``.

    Args:
        pipeline: the fitted pipeline (raw frame in, predictions out).
        X_check: raw rows to compare on (the test split); at most
            ``max_check_rows`` are used.
        tolerance: largest accepted |ONNX - Python| for probabilities; for
            regressors it is relative to max(1, largest |prediction|), since
            float32 cannot hold 1e-4 absolute on values like 250000.

    Returns:
        The model bytes (None when not kept) and the manifest's ``onnx`` section.
    """
    versions = _converter_versions()
    classifier = _is_classifier(pipeline)
    frame = X_check.iloc[:max_check_rows] if len(X_check) > max_check_rows else X_check
    base = {"tolerance": tolerance, "converter_versions": versions, "opset": TARGET_OPSET}
    if len(frame) == 0:
        return OnnxExport(
            None, OnnxInfo(reason="no check rows to prove ONNX equal to Python", **base)
        )
    if classifier and not hasattr(final_step(pipeline), "predict_proba"):
        return OnnxExport(None, OnnxInfo(reason="the classifier has no predict_proba", **base))
    try:
        derived_step, work = split_record_step(copy.deepcopy(pipeline))
        # Derived columns come from the per-record path serving uses, so the
        # comparison below also proves it equal to the batch path Python uses.
        fed = frame if derived_step is None else add_derived_columns(derived_step, frame)
        derived = {} if derived_step is None else derived_expressions(derived_step)
        hints = strip_identity_steps(work)
        inputs = input_contract(work, fed, hints=hints)
        model = _convert(work, inputs, classifier=classifier)
        session = onnx_session(model)
        # Columns the graph never reads are not graph inputs: do not feed them.
        used = {i.name for i in session.get_inputs()}
        inputs = [i for i in inputs if i.name in used]
        out_index = 1 if classifier else 0
        output = session.get_outputs()[out_index].name
        got = np.asarray(session.run([output], feeds_from_frame(inputs, fed))[0], dtype=np.float64)
        expected = _python_outputs(pipeline, frame, classifier=classifier)
    except NotConvertible as exc:
        return OnnxExport(None, OnnxInfo(reason=str(exc), **base))
    except Exception as exc:  # converters raise anything from RuntimeError to TypeError
        reason = f"conversion failed: {_describe(exc)}"
        return OnnxExport(None, OnnxInfo(reason=reason, **base))
    if not classifier:
        got = got.reshape(-1)
    if got.shape != expected.shape:
        return OnnxExport(
            None,
            OnnxInfo(
                reason=f"ONNX output shape {got.shape} differs from Python's {expected.shape}",
                **base,
            ),
        )
    diff = np.abs(got - expected)
    both_nan = np.isnan(got) & np.isnan(expected)
    diff = np.where(both_nan, 0.0, diff)
    max_diff = float(np.max(diff)) if diff.size else 0.0
    if np.isnan(max_diff):
        max_diff = float("inf")
    limit = tolerance
    if not classifier:
        finite = expected[np.isfinite(expected)]
        limit = tolerance * max(1.0, float(np.max(np.abs(finite))) if finite.size else 1.0)
    classes = None
    if classifier:
        from conveyor.bundle._signature import _to_json_scalar

        classes = [_to_json_scalar(c) for c in final_step(pipeline).classes_]
    info = OnnxInfo(
        present=max_diff <= limit,
        max_abs_diff=max_diff,
        n_check_rows=len(frame),
        inputs=inputs,
        output=output,
        classes=classes,
        derived=derived,
        missing_string=MISSING_STRING,
        reason=None
        if max_diff <= limit
        else f"ONNX differs from the Python pipeline by {max_diff:.3g} on {len(frame)} check rows "
        f"(tolerance {limit:.3g})",
        **base,
    )
    return OnnxExport(model if info.present else None, info)


def _convert(work: Any, inputs: list[OnnxInput], *, classifier: bool) -> bytes:
    """Convert ``work`` (a private copy, patched in place) with skl2onnx."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    register_boosting_converters(_libraries(work))
    patch_hist_gradient_boosting_converter()
    _patch_string_imputers(work)
    _patch_infrequent_encoders(work)
    initial_types = [
        (
            spec.name,
            FloatTensorType([None, len(spec.columns)])
            if spec.type == "float32"
            else StringTensorType([None, len(spec.columns)]),
        )
        for spec in inputs
    ]
    options = {id(final_step(work)): {"zipmap": False}} if classifier else None
    onx = convert_sklearn(
        work, initial_types=initial_types, target_opset=TARGET_OPSET, options=options
    )
    return onx.SerializeToString()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:199] + "…"


def _describe(exc: BaseException) -> str:
    """``Type: message`` plus the root cause, which converters often wrap in a vaguer error."""
    text = f"{type(exc).__name__}: {_first_line(exc)}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        text += f" (caused by {type(cause).__name__}: {_first_line(cause)})"
    return text
