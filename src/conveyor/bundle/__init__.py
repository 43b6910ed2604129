"""The deployable model bundle: fitted pipeline, signature, reference statistics, manifest.

Example:
    >>> from conveyor.bundle import save_bundle, load_bundle, build_signature, build_reference
    >>> info = save_bundle(pipe, out, signature=sig, reference=ref, metrics=m, run_id="r1",
    ...                    dataset_version="3", config_fingerprint="ab12", model_name="churn",
    ...                    X_check=X_test)  # doctest: +SKIP
    >>> loaded = load_bundle(out, expected_manifest_digest=info.manifest_digest)  # doctest: +SKIP
    >>> loaded.runtime().predict_records([{...}])  # doctest: +SKIP

Heavy libraries (scikit-learn, skops, onnx) are imported only inside the
functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor._lazy import lazy_exports

if TYPE_CHECKING:
    from conveyor.bundle._bundle import BundleInfo, LoadedBundle, load_bundle, save_bundle
    from conveyor.bundle._manifest import (
        MANIFEST_FORMAT_VERSION,
        FileEntry,
        Manifest,
        OnnxInfo,
        OnnxInput,
        manifest_digest,
        verify_bundle,
    )
    from conveyor.bundle._onnx_io import category_text
    from conveyor.bundle._reference import (
        OTHER_CATEGORY,
        REFERENCE_FORMAT_VERSION,
        bin_counts,
        build_reference,
        category_key,
    )
    from conveyor.bundle._serialize import ALLOWED_TYPE_PREFIXES, is_allowed_type
    from conveyor.bundle._signature import (
        SIGNATURE_FORMAT_VERSION,
        InputField,
        OutputField,
        Signature,
        build_signature,
    )
    from conveyor.bundle._validate import FieldError, RecordValidator
    from conveyor.bundle.runtime import BundleRuntime, InvalidRecords

# Imported on first use: a cached run needs manifest_digest, not numpy, pydantic
# models and the runtime.
_HOMES = {
    "BundleInfo": "_bundle",
    "LoadedBundle": "_bundle",
    "load_bundle": "_bundle",
    "save_bundle": "_bundle",
    "MANIFEST_FORMAT_VERSION": "_manifest",
    "FileEntry": "_manifest",
    "Manifest": "_manifest",
    "OnnxInfo": "_manifest",
    "OnnxInput": "_manifest",
    "manifest_digest": "_manifest",
    "verify_bundle": "_manifest",
    "category_text": "_onnx_io",
    "OTHER_CATEGORY": "_reference",
    "REFERENCE_FORMAT_VERSION": "_reference",
    "bin_counts": "_reference",
    "build_reference": "_reference",
    "category_key": "_reference",
    "ALLOWED_TYPE_PREFIXES": "_serialize",
    "is_allowed_type": "_serialize",
    "SIGNATURE_FORMAT_VERSION": "_signature",
    "InputField": "_signature",
    "OutputField": "_signature",
    "Signature": "_signature",
    "build_signature": "_signature",
    "FieldError": "_validate",
    "RecordValidator": "_validate",
    "BundleRuntime": "runtime",
    "InvalidRecords": "runtime",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "ALLOWED_TYPE_PREFIXES",
    "MANIFEST_FORMAT_VERSION",
    "OTHER_CATEGORY",
    "REFERENCE_FORMAT_VERSION",
    "SIGNATURE_FORMAT_VERSION",
    "BundleInfo",
    "BundleRuntime",
    "FieldError",
    "FileEntry",
    "InputField",
    "InvalidRecords",
    "LoadedBundle",
    "Manifest",
    "OnnxInfo",
    "OnnxInput",
    "OutputField",
    "RecordValidator",
    "Signature",
    "bin_counts",
    "build_reference",
    "build_signature",
    "category_key",
    "category_text",
    "is_allowed_type",
    "load_bundle",
    "manifest_digest",
    "save_bundle",
    "verify_bundle",
]
