"""The bundle manifest: what is in the bundle, who made it, and the hash of every file.

The registry records the sha256 of ``manifest.json`` itself (the *manifest
digest*). Checking that digest first and then every file hash listed in the
manifest proves the whole directory is the one that was registered, before
any model file is deserialised.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conveyor.errors import ModelError

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_FORMAT_VERSION",
    "FileEntry",
    "Manifest",
    "OnnxInfo",
    "OnnxInput",
    "file_sha256",
    "library_versions",
    "manifest_bytes",
    "manifest_digest",
    "read_manifest",
    "verify_bundle",
]

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT_VERSION = 1
_CHUNK = 1 << 20
_LIBRARIES = (
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "polars",
    "skops",
    "lightgbm",
    "xgboost",
    "onnxruntime",
    "onnx",
    "skl2onnx",
    "onnxmltools",
)


class FileEntry(BaseModel):
    """Hash and size of one bundle file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class OnnxInput(BaseModel):
    """One ONNX graph input: which raw columns feed it and as what tensor type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    columns: list[str]
    type: Literal["float32", "string"]


class OnnxInfo(BaseModel):
    """Whether ``model.onnx`` is present, how well it matches Python, and how to feed it.

    Attributes:
        present: the bundle holds ``model.onnx``.
        max_abs_diff: largest |ONNX - Python| over the check rows (probabilities or values).
        tolerance: the largest difference accepted.
        n_check_rows: rows the comparison ran on.
        reason: why ONNX is absent (conversion failed, too different, disabled).
        inputs: the input contract, in graph order. Each input is a float32 or
            string tensor of shape [n, len(columns)]; missing numbers are fed as
            NaN and missing strings as ``missing_string``.
        text_rule: how values become text for string inputs: ``category_text/1``
            is :func:`conveyor.bundle.category_text` (ints and integral floats
            as integers, booleans as True/False).
        output: name of the graph output holding probabilities (classifiers)
            or values (regressors).
        classes: column order of the probability output.
        derived: derived features computed in Python per record *before* the
            graph (new column -> expression), by the pipeline's leading
            record-level step; their columns are graph inputs like raw ones.
            Empty when the graph takes the raw columns only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    present: bool = False
    max_abs_diff: float | None = None
    tolerance: float | None = None
    n_check_rows: int = 0
    reason: str | None = None
    inputs: list[OnnxInput] = Field(default_factory=list)
    output: str | None = None
    classes: list[Any] | None = None
    derived: dict[str, str] = Field(default_factory=dict)
    missing_string: str = ""
    text_rule: Literal["category_text/1"] = "category_text/1"
    opset: dict[str, int] = Field(default_factory=dict)
    converter_versions: dict[str, str] = Field(default_factory=dict)


class Manifest(BaseModel):
    """Contents of ``manifest.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = MANIFEST_FORMAT_VERSION
    model_name: str
    created_at: str
    run_id: str | None = None
    dataset_version: str | None = None
    config_fingerprint: str | None = None
    model_format: Literal["skops", "joblib"]
    model_file: str
    format_reason: str | None = Field(
        default=None, description="Why the pipeline was saved with joblib instead of skops."
    )
    trusted_types: list[str] = Field(default_factory=list)
    task: str | None = None
    files: dict[str, FileEntry]
    libraries: dict[str, str] = Field(default_factory=dict)
    onnx: OnnxInfo = Field(default_factory=OnnxInfo)


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file at ``path`` (streamed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_digest(directory: Path | str) -> str:
    """The sha256 of ``manifest.json``: the digest the registry records for a bundle.

    Not the artifact store's tree digest (which covers the store's own file
    listing); the registry records both.
    """
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise ModelError(
            f"bundle {directory}: {MANIFEST_FILE} is missing: this is not a model bundle"
        )
    return file_sha256(path)


def library_versions() -> dict[str, str]:
    """Python and installed library versions (read from metadata; nothing is imported)."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _short(digest: str) -> str:
    return digest[:12] + "…"


def _check_file_name(directory: Path, name: str) -> Path:
    # A manifest is untrusted input until verified: names must not escape the bundle.
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise ModelError(f"bundle {directory}: manifest lists an invalid file name {name!r}")
    return directory / name


def read_manifest(directory: Path) -> Manifest:
    """Parse ``manifest.json`` without checking any hash."""
    path = directory / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"bundle {directory}: {MANIFEST_FILE} is missing: this is not a model bundle"
        ) from None
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise ModelError(
            f"bundle {directory}: {MANIFEST_FILE} is not a valid manifest: {loc}: {first['msg']}"
        ) from exc
    if manifest.format_version > MANIFEST_FORMAT_VERSION:
        raise ModelError(
            f"bundle {directory}: manifest format_version {manifest.format_version} is newer than "
            f"this Conveyor understands ({MANIFEST_FORMAT_VERSION})",
            hint="upgrade Conveyor to load this bundle",
        )
    return manifest


def verify_bundle(
    directory: Path | str, *, expected_manifest_digest: str | None = None
) -> Manifest:
    """Prove a bundle directory is intact (and, given a digest, the registered one).

    Checks the manifest digest when ``expected_manifest_digest`` is given, then
    the size and sha256 of every file the manifest lists.

    Raises:
        ModelError: naming the file that is missing, truncated or modified.

    Example:
        >>> manifest = verify_bundle(path, expected_manifest_digest=version.manifest_digest)  # doctest: +SKIP
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"bundle {directory}: not a directory")
    if expected_manifest_digest is not None:
        got = manifest_digest(directory)
        if got != expected_manifest_digest:
            raise ModelError(
                f"bundle {directory}: {MANIFEST_FILE} hash mismatch (expected "
                f"{_short(expected_manifest_digest)}, got {_short(got)}): the bundle was modified "
                "or is not the registered one",
                hint="fetch the bundle again from the artifact store, or re-register the model",
            )
    manifest = read_manifest(directory)
    if manifest.model_file not in manifest.files:
        raise ModelError(
            f"bundle {directory}: manifest does not list a hash for its model file {manifest.model_file!r}"
        )
    for name, entry in sorted(manifest.files.items()):
        path = _check_file_name(directory, name)
        if not path.is_file():
            raise ModelError(f"bundle {directory}: {name} is missing: the bundle is incomplete")
        size = path.stat().st_size
        if size != entry.size:
            raise ModelError(
                f"bundle {directory}: {name} hash mismatch (expected {entry.size} bytes, got {size}): "
                "the bundle was modified or truncated"
            )
        got = file_sha256(path)
        if got != entry.sha256:
            raise ModelError(
                f"bundle {directory}: {name} hash mismatch (expected {_short(entry.sha256)}, got "
                f"{_short(got)}): the bundle was modified or truncated"
            )
    return manifest


def manifest_bytes(manifest: Manifest) -> bytes:
    """Canonical JSON of ``manifest`` (sorted keys), so the digest is stable."""
    import json

    data: dict[str, Any] = manifest.model_dump(mode="json")
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
