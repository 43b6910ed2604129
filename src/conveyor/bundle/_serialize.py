"""Saving and loading the fitted pipeline: skops first, joblib only when it must.

skops rebuilds objects without running pickle's arbitrary code, but only for
types it is told to trust. The trusted list is recorded at save time and, at
load time, recomputed from the file and checked against an allow-list of
module prefixes, so a crafted file cannot smuggle in ``os.system``. When
skops cannot represent the pipeline (a user type outside the allow-list, or a
round trip that changes predictions) the bundle falls back to joblib, which is
only ever loaded after the manifest digest matched the registry's record.

skops is imported through :func:`skops_io`, which skips the scan of every
scikit-learn module skops runs at import (see there): the allow-list, not
skops' default list, decides what loads.
"""

from __future__ import annotations

import io
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from conveyor.errors import ModelError

__all__ = [
    "ALLOWED_TYPE_PREFIXES",
    "SavedModel",
    "disallowed_types",
    "dump_model",
    "is_allowed_type",
    "load_model",
    "skops_io",
]

ALLOWED_TYPE_PREFIXES: tuple[str, ...] = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "lightgbm.",
    "xgboost.",
    "conveyor.",
    "builtins.",
    "collections.",
)
# Allowed by prefix but able to run code or touch files when a trusted
# transformer (e.g. FunctionTransformer) calls them on request data.
_DENIED_TYPES = frozenset(
    f"builtins.{name}"
    for name in (
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "exit",
        "quit",
        "help",
        "memoryview",
    )
) | frozenset({"numpy.load", "numpy.save", "numpy.savez", "numpy.fromfile", "numpy.memmap"})

SKOPS_FILE = "model.skops"
JOBLIB_FILE = "model.joblib"


@dataclass(frozen=True)
class SavedModel:
    """How the pipeline was written: file name, format, trusted types, and why joblib if so."""

    file: str
    format: Literal["skops", "joblib"]
    trusted_types: list[str]
    reason: str | None = None


_IMPORT_LOCK = threading.Lock()


def skops_io() -> Any:
    """``skops.io``, imported without building skops' default-trusted estimator list.

    At import, skops (0.16) lists every scikit-learn estimator with
    ``sklearn.utils.all_estimators()``, which imports every scikit-learn
    module, and Dask and pytest through them: 0.6-1 s of every process that
    saves or loads a bundle (``conveyor run``, ``serve``, ``predict``). Conveyor
    never relies on that list: every type a file holds is checked against
    :data:`ALLOWED_TYPE_PREFIXES` and handed to skops explicitly. So skops is
    imported with an empty list; scikit-learn types then come back from
    ``get_untrusted_types`` and pass the allow-list like every other type.
    When something imported skops before, that import is used as it is.
    """
    with _IMPORT_LOCK:
        loaded = sys.modules.get("skops.io")
        if loaded is not None:
            return loaded
        import sklearn.utils

        scan = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = _no_estimators
        try:
            import skops.io as sio
        finally:
            sklearn.utils.all_estimators = scan
        return sio


def _no_estimators(*_args: Any, **_kwargs: Any) -> list[tuple[str, type]]:
    return []


def is_allowed_type(name: str) -> bool:
    """Whether a fully qualified type name may be trusted when loading a skops file."""
    return name.startswith(ALLOWED_TYPE_PREFIXES) and name not in _DENIED_TYPES


def disallowed_types(names: list[str]) -> list[str]:
    return sorted(n for n in names if not is_allowed_type(n))


def _outputs(model: Any, frame: Any) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(frame), dtype=np.float64)
    return np.asarray(model.predict(frame), dtype=np.float64)


def dump_model(pipeline: Any, directory: Path, *, check_frame: Any = None) -> SavedModel:
    """Write ``pipeline`` into ``directory`` as ``model.skops`` (or ``model.joblib``).

    Args:
        pipeline: the fitted scikit-learn compatible pipeline.
        directory: the bundle directory being written.
        check_frame: a few raw rows; when given, the skops round trip must
            reproduce the pipeline's outputs on them exactly, else joblib is used.
    """
    sio = skops_io()
    reason: str | None = None
    try:
        data = sio.dumps(pipeline)
        untrusted = sorted(sio.get_untrusted_types(data=data))
        bad = disallowed_types(untrusted)
        if bad:
            reason = f"skops: types outside the allow-list: {', '.join(bad)}"
        else:
            restored = sio.loads(data, trusted=untrusted)
            if (
                check_frame is not None
                and len(check_frame)
                and not np.array_equal(
                    _outputs(restored, check_frame), _outputs(pipeline, check_frame), equal_nan=True
                )
            ):
                reason = "skops: the reloaded pipeline predicts differently"
    except Exception as exc:  # skops raises many types for unsupported objects
        reason = f"skops cannot serialise this pipeline: {type(exc).__name__}: {_first_line(exc)}"
    if reason is None:
        (directory / SKOPS_FILE).write_bytes(data)
        return SavedModel(SKOPS_FILE, "skops", untrusted)

    import joblib

    buffer = io.BytesIO()
    try:
        joblib.dump(pipeline, buffer)
    except Exception as exc:
        raise ModelError(
            f"bundle {directory}: the pipeline cannot be saved ({reason}; joblib: "
            f"{type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    (directory / JOBLIB_FILE).write_bytes(buffer.getvalue())
    return SavedModel(JOBLIB_FILE, "joblib", [], reason)


def load_model(
    path: Path,
    *,
    model_format: Literal["skops", "joblib"],
    trusted_types: list[str],
    digest_verified: bool,
) -> Any:
    """Deserialise the pipeline at ``path`` (its hash must already be verified).

    Args:
        path: ``model.skops`` or ``model.joblib`` inside a verified bundle.
        model_format: from the manifest.
        trusted_types: the manifest's list; the file's own list must match it
            and pass the allow-list.
        digest_verified: whether the manifest digest matched the registry's
            record. joblib (pickle) is refused otherwise.
    """
    bundle = path.parent
    if model_format == "joblib":
        if not digest_verified:
            raise ModelError(
                f"bundle {bundle}: refusing to unpickle {path.name} without the registry's manifest digest",
                hint="load it through the registry (or pass expected_manifest_digest)",
            )
        import joblib

        try:
            return joblib.load(path)
        except Exception as exc:
            raise ModelError(
                f"bundle {bundle}: cannot load {path.name}: {type(exc).__name__}: {_first_line(exc)}",
                hint="the bundle may need the library versions listed in its manifest",
            ) from exc

    sio = skops_io()
    try:
        found = sorted(sio.get_untrusted_types(file=path))
    except Exception as exc:
        raise ModelError(
            f"bundle {bundle}: {path.name} is not a readable skops file: {_first_line(exc)}"
        ) from exc
    bad = disallowed_types(found)
    if bad:
        raise ModelError(
            f"bundle {bundle}: {path.name} contains types outside the allow-list: {', '.join(bad)}",
            hint="allowed module prefixes: "
            + ", ".join(p.rstrip(".") for p in ALLOWED_TYPE_PREFIXES),
        )
    # scikit-learn types are absent from the manifests of files saved where skops
    # trusted them by default (see skops_io); they passed the allow-list above.
    unexpected = sorted(t for t in set(found) - set(trusted_types) if not t.startswith("sklearn."))
    if unexpected:
        raise ModelError(
            f"bundle {bundle}: {path.name} contains types the manifest does not trust: "
            f"{', '.join(unexpected)}"
        )
    try:
        return sio.load(path, trusted=found)
    except Exception as exc:
        raise ModelError(
            f"bundle {bundle}: cannot load {path.name}: {type(exc).__name__}: {_first_line(exc)}",
            hint="the bundle may need the library versions listed in its manifest",
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
