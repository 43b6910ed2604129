"""Save, verify and load the model bundle directory.

Layout::

    model.skops | model.joblib   the fitted pipeline (features + estimator)
    model.onnx                   optional fast path, present only when proven equal
    signature.json               inputs, outputs, decision rule
    reference.json               training statistics for drift monitoring
    metrics.json                 evaluation metrics
    manifest.json                hashes of all the above, versions, lineage

A bundle is written into a hidden sibling directory and renamed into place,
so a killed run never leaves a half-written bundle behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.bundle._manifest import (
    MANIFEST_FILE,
    FileEntry,
    Manifest,
    OnnxInfo,
    file_sha256,
    library_versions,
    manifest_bytes,
    verify_bundle,
)
from conveyor.bundle._serialize import dump_model, load_model
from conveyor.bundle._signature import Signature
from conveyor.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.bundle.runtime import BundleRuntime

__all__ = ["BundleInfo", "LoadedBundle", "load_bundle", "save_bundle"]

SIGNATURE_FILE = "signature.json"
REFERENCE_FILE = "reference.json"
METRICS_FILE = "metrics.json"
ONNX_FILE = "model.onnx"
_REQUIRED = (SIGNATURE_FILE, REFERENCE_FILE, METRICS_FILE)
_VERSION_CHECKED = ("scikit-learn", "lightgbm", "xgboost", "skops")


@dataclass(frozen=True)
class BundleInfo:
    """A freshly written bundle: where it is, its manifest, and the digest to register."""

    path: Path
    manifest: Manifest
    manifest_digest: str


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _write_json(path: Path, data: Any) -> None:
    try:
        text = json.dumps(
            _plain(data), indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False
        )
    except (TypeError, ValueError) as exc:
        raise ModelError(f"bundle: {path.name} cannot be written as JSON: {exc}") from exc
    path.write_text(text + "\n", encoding="utf-8")


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def save_bundle(
    pipeline: Any,
    directory: Path | str,
    *,
    signature: Signature,
    reference: dict[str, Any],
    metrics: dict[str, Any],
    run_id: str | None,
    dataset_version: str | int | None,
    config_fingerprint: str | None,
    model_name: str,
    X_check: pd.DataFrame | None = None,
    onnx: bool = True,
    onnx_tolerance: float = 1e-4,
) -> BundleInfo:
    """Write the model bundle for ``pipeline`` into ``directory`` (which must not exist or be empty).

    Args:
        pipeline: the fitted end-to-end pipeline (raw frame in).
        directory: where the bundle goes.
        signature: from :func:`build_signature`.
        reference: from :func:`build_reference`.
        metrics: evaluation metrics (JSON-like; NaN becomes null).
        run_id: the run that trained the model.
        dataset_version: the dataset version it was trained on.
        config_fingerprint: fingerprint of the config that produced it.
        model_name: registry name of the model.
        X_check: raw check rows (the test split); used to prove the skops
            round trip and ONNX equal to Python. Without it ONNX is skipped.
        onnx: try the ONNX export.
        onnx_tolerance: largest accepted ONNX/Python difference.

    Example:
        >>> info = save_bundle(pipe, workdir / "bundle", signature=sig, reference=ref,
        ...                    metrics={"roc_auc": 0.84}, run_id="r1", dataset_version="3",
        ...                    config_fingerprint="ab12", model_name="churn", X_check=X_test)  # doctest: +SKIP
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ModelError(f"bundle {directory}: the target exists and is not an empty directory")
    if not isinstance(signature, Signature):
        raise ModelError(
            f"bundle {directory}: signature must be a Signature, got {type(signature).__name__}"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        check = X_check.iloc[:200] if X_check is not None else None
        saved = dump_model(pipeline, tmp, check_frame=check)
        (tmp / SIGNATURE_FILE).write_text(
            signature.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
        _write_json(tmp / REFERENCE_FILE, reference)
        _write_json(tmp / METRICS_FILE, metrics)
        onnx_info = _export(pipeline, tmp, X_check=X_check, enabled=onnx, tolerance=onnx_tolerance)
        files = {
            p.name: FileEntry(sha256=file_sha256(p), size=p.stat().st_size)
            for p in sorted(tmp.iterdir())
        }
        manifest = Manifest(
            model_name=model_name,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            run_id=run_id,
            dataset_version=None if dataset_version is None else str(dataset_version),
            config_fingerprint=config_fingerprint,
            model_format=saved.format,
            model_file=saved.file,
            format_reason=saved.reason,
            trusted_types=saved.trusted_types,
            task=signature.task,
            files=files,
            libraries=library_versions(),
            onnx=onnx_info,
        )
        data = manifest_bytes(manifest)
        (tmp / MANIFEST_FILE).write_bytes(data)
        _fsync_tree(tmp)
        if directory.exists():
            directory.rmdir()
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    import hashlib

    return BundleInfo(
        path=directory, manifest=manifest, manifest_digest=hashlib.sha256(data).hexdigest()
    )


def _export(
    pipeline: Any, tmp: Path, *, X_check: pd.DataFrame | None, enabled: bool, tolerance: float
) -> OnnxInfo:
    if not enabled:
        return OnnxInfo(reason="ONNX export disabled")
    if X_check is None:
        return OnnxInfo(reason="no check rows (X_check) to prove ONNX equal to Python")
    try:
        from conveyor.bundle.onnx_export import export_onnx
    except ImportError as exc:  # pragma: no cover - onnx extras missing
        return OnnxInfo(
            reason=f"ONNX tooling is not installed ({exc.name}); pip install 'conveyor[onnx]'"
        )
    try:
        result = export_onnx(pipeline, X_check, tolerance=tolerance)
    except ImportError as exc:
        return OnnxInfo(
            reason=f"ONNX tooling is not installed ({exc.name}); pip install 'conveyor[onnx]'"
        )
    if result.model is not None:
        (tmp / ONNX_FILE).write_bytes(result.model)
    return result.info


@dataclass
class LoadedBundle:
    """A verified, loaded bundle.

    Attributes:
        path: the bundle directory.
        pipeline: the fitted Python pipeline.
        signature: inputs, outputs, decision rule.
        reference: training statistics (``reference.json``).
        metrics: evaluation metrics.
        manifest: the verified manifest.
        manifest_digest: sha256 of ``manifest.json``.
        onnx_session: onnxruntime session when ``model.onnx`` is present and loaded.
        warnings: e.g. library versions differing from the ones that saved the bundle.
    """

    path: Path
    pipeline: Any
    signature: Signature
    reference: dict[str, Any]
    metrics: dict[str, Any]
    manifest: Manifest
    manifest_digest: str
    onnx_session: Any = None
    warnings: list[str] = field(default_factory=list)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities from the Python pipeline (columns in ``signature.classes`` order)."""
        if not self.signature.is_classifier:
            raise ModelError(f"bundle {self.path}: a regression model has no probabilities")
        return np.asarray(self.pipeline.predict_proba(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels (binary: by the bundle's decision threshold) or values, from the Python pipeline."""
        sig = self.signature
        if sig.task == "binary":
            return sig.decide_many(self.predict_proba(frame))
        return np.asarray(self.pipeline.predict(frame))

    def runtime(self) -> BundleRuntime:
        """The fast record-level runtime (ONNX when present, else Python)."""
        from conveyor.bundle.runtime import BundleRuntime

        return BundleRuntime(self)


def load_bundle(
    directory: Path | str,
    *,
    expected_manifest_digest: str | None = None,
    onnx: bool = True,
) -> LoadedBundle:
    """Verify and load a bundle.

    Every file hash is checked before anything is deserialised; a joblib
    pipeline is only unpickled when ``expected_manifest_digest`` (the
    registry's record) matched.

    Args:
        directory: the bundle directory.
        expected_manifest_digest: the manifest digest the registry recorded.
        onnx: open an onnxruntime session when the bundle holds ``model.onnx``.

    Raises:
        ModelError: the bundle is incomplete, modified, of an unknown format,
            or holds types outside the allow-list.
    """
    directory = Path(directory)
    manifest = verify_bundle(directory, expected_manifest_digest=expected_manifest_digest)
    missing = [name for name in _REQUIRED if name not in manifest.files]
    if missing:
        raise ModelError(f"bundle {directory}: manifest does not list {', '.join(missing)}")
    try:
        signature = Signature.model_validate_json((directory / SIGNATURE_FILE).read_bytes())
        reference = json.loads((directory / REFERENCE_FILE).read_text(encoding="utf-8"))
        metrics = json.loads((directory / METRICS_FILE).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelError(f"bundle {directory}: cannot read its JSON files: {exc}") from exc
    pipeline = load_model(
        directory / manifest.model_file,
        model_format=manifest.model_format,
        trusted_types=manifest.trusted_types,
        digest_verified=expected_manifest_digest is not None,
    )
    warnings = _version_warnings(manifest)
    session = None
    if onnx and manifest.onnx.present:
        if ONNX_FILE not in manifest.files:
            raise ModelError(
                f"bundle {directory}: manifest says ONNX is present but lists no {ONNX_FILE}"
            )
        try:
            from conveyor.bundle.onnx_export import onnx_session

            session = onnx_session((directory / ONNX_FILE).read_bytes())
        except ImportError:
            warnings.append("onnxruntime is not installed: serving uses the Python pipeline")
        except Exception as exc:
            warnings.append(f"{ONNX_FILE} could not be opened ({type(exc).__name__}); using Python")
    return LoadedBundle(
        path=directory,
        pipeline=pipeline,
        signature=signature,
        reference=reference,
        metrics=metrics,
        manifest=manifest,
        manifest_digest=file_sha256(directory / MANIFEST_FILE),
        onnx_session=session,
        warnings=warnings,
    )


def _version_warnings(manifest: Manifest) -> list[str]:
    current = library_versions()
    out = []
    for name in _VERSION_CHECKED:
        saved, now = manifest.libraries.get(name), current.get(name)
        if saved and now and saved != now:
            out.append(f"{name} {now} is loading a bundle saved with {name} {saved}")
    return out
