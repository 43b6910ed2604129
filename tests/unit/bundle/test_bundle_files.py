from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conveyor.bundle import (
    Manifest,
    is_allowed_type,
    load_bundle,
    manifest_digest,
    save_bundle,
    verify_bundle,
)
from conveyor.errors import ModelError

EXPECTED_FILES = {"model.skops", "model.onnx", "signature.json", "reference.json", "metrics.json"}


def _resign_manifest(path: Path, **changes: Any) -> str:
    """Rewrite manifest.json (as an attacker would) and return its new digest."""
    data = json.loads((path / "manifest.json").read_text())
    data.update(changes)
    (path / "manifest.json").write_text(json.dumps(data))
    return hashlib.sha256((path / "manifest.json").read_bytes()).hexdigest()


def _refresh_hash(path: Path, name: str) -> None:
    data = json.loads((path / "manifest.json").read_text())
    blob = (path / name).read_bytes()
    data["files"][name] = {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    (path / "manifest.json").write_text(json.dumps(data))


def test_bundle_layout_and_manifest(saved_lr_bundle: Any) -> None:
    path: Path = saved_lr_bundle.path
    assert {p.name for p in path.iterdir()} == EXPECTED_FILES | {"manifest.json"}
    m: Manifest = saved_lr_bundle.manifest
    assert set(m.files) == EXPECTED_FILES
    assert m.format_version == 1 and m.model_format == "skops" and m.model_file == "model.skops"
    assert (m.model_name, m.run_id, m.dataset_version) == ("churn", "run000000001", "3")
    assert m.config_fingerprint == "f" * 16 and m.task == "binary"
    assert {"python", "scikit-learn", "numpy", "skops"} <= set(m.libraries)
    assert all(is_allowed_type(t) for t in m.trusted_types)
    assert m.onnx.present and m.onnx.max_abs_diff is not None
    for name, entry in m.files.items():
        assert entry.sha256 == hashlib.sha256((path / name).read_bytes()).hexdigest()
    assert saved_lr_bundle.manifest_digest == manifest_digest(path)
    assert not list(path.parent.glob(".lr.tmp-*"))  # staging directory is gone


def test_metrics_are_strict_json(saved_lr_bundle: Any) -> None:
    metrics = json.loads((saved_lr_bundle.path / "metrics.json").read_text())
    assert metrics == {"roc_auc": 0.84, "log_loss": 0.41, "undefined": None}


def test_round_trip_predicts_like_the_original(
    saved_lr_bundle: Any, lr_pipeline: Any, churn: Any
) -> None:
    loaded = load_bundle(
        saved_lr_bundle.path, expected_manifest_digest=saved_lr_bundle.manifest_digest
    )
    np.testing.assert_array_equal(
        loaded.predict_proba(churn.X_test), lr_pipeline.predict_proba(churn.X_test)
    )
    assert loaded.signature.task == "binary"
    assert loaded.reference["features"]["tenure"]["kind"] == "numeric"
    assert loaded.metrics["roc_auc"] == 0.84
    assert loaded.onnx_session is not None
    assert loaded.manifest_digest == saved_lr_bundle.manifest_digest
    assert loaded.warnings == []


def test_predict_applies_the_decision_threshold(saved_lr_bundle: Any, churn: Any) -> None:
    loaded = load_bundle(saved_lr_bundle.path)
    proba = loaded.predict_proba(churn.X_test)[:, 1]
    labels = loaded.predict(churn.X_test)
    np.testing.assert_array_equal(labels == "Yes", proba >= 0.4)
    # the threshold matters: 0.4 gives more positives than the estimator's 0.5
    assert (labels == "Yes").sum() >= (loaded.pipeline.predict(churn.X_test) == "Yes").sum()


def test_target_directory_must_be_empty(
    saved_lr_bundle: Any, lr_pipeline: Any, churn_signature: Any
) -> None:
    with pytest.raises(ModelError, match="exists and is not an empty directory"):
        save_bundle(
            lr_pipeline,
            saved_lr_bundle.path,
            signature=churn_signature,
            reference={},
            metrics={},
            run_id=None,
            dataset_version=None,
            config_fingerprint=None,
            model_name="churn",
        )


def test_failed_save_leaves_nothing_behind(
    tmp_path: Path, lr_pipeline: Any, churn_signature: Any
) -> None:
    with pytest.raises(ModelError, match=r"metrics.json cannot be written as JSON"):
        save_bundle(
            lr_pipeline,
            tmp_path / "b",
            signature=churn_signature,
            reference={},
            metrics={"bad": object()},
            run_id=None,
            dataset_version=None,
            config_fingerprint=None,
            model_name="churn",
            onnx=False,
        )
    assert list(tmp_path.iterdir()) == []


def test_without_check_rows_onnx_is_skipped_with_reason(
    tmp_path: Path, lr_pipeline: Any, churn_signature: Any
) -> None:
    info = save_bundle(
        lr_pipeline,
        tmp_path / "b",
        signature=churn_signature,
        reference={},
        metrics={},
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        model_name="churn",
    )
    assert not info.manifest.onnx.present
    assert "X_check" in (info.manifest.onnx.reason or "")
    assert not (tmp_path / "b" / "model.onnx").exists()


# ---------------------------------------------------------------- tampering


def test_tampered_model_file_is_refused(bundle_copy: Path) -> None:
    data = bytearray((bundle_copy / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle_copy / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        load_bundle(bundle_copy)
    message = str(info.value)
    assert message.startswith(f"bundle {bundle_copy}: model.skops hash mismatch (expected ")
    assert "the bundle was modified or truncated" in message


def test_truncated_file_is_refused(bundle_copy: Path) -> None:
    blob = (bundle_copy / "signature.json").read_bytes()
    (bundle_copy / "signature.json").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(
        ModelError, match=r"signature.json hash mismatch \(expected \d+ bytes, got \d+\)"
    ):
        verify_bundle(bundle_copy)


def test_missing_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "reference.json").unlink()
    with pytest.raises(ModelError, match=r"reference.json is missing: the bundle is incomplete"):
        verify_bundle(bundle_copy)


def test_missing_manifest_is_not_a_bundle(bundle_copy: Path) -> None:
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match=r"manifest.json is missing"):
        load_bundle(bundle_copy)


def test_edited_manifest_fails_the_registry_digest(bundle_copy: Path, saved_lr_bundle: Any) -> None:
    _resign_manifest(bundle_copy, run_id="someone-else")
    verify_bundle(bundle_copy)  # internally consistent ...
    with pytest.raises(ModelError, match=r"manifest.json hash mismatch .*not the registered one"):
        verify_bundle(bundle_copy, expected_manifest_digest=saved_lr_bundle.manifest_digest)


def test_consistent_forgery_is_caught_by_the_manifest_digest(
    bundle_copy: Path, saved_lr_bundle: Any
) -> None:
    # Change a file and fix its hash in the manifest: only the registry's digest catches it.
    (bundle_copy / "metrics.json").write_text('{"roc_auc": 0.99}')
    _refresh_hash(bundle_copy, "metrics.json")
    assert verify_bundle(bundle_copy).files["metrics.json"].size == len('{"roc_auc": 0.99}')
    with pytest.raises(ModelError, match=r"manifest.json hash mismatch"):
        load_bundle(bundle_copy, expected_manifest_digest=saved_lr_bundle.manifest_digest)


def test_invalid_manifest_names_the_key(bundle_copy: Path) -> None:
    _resign_manifest(bundle_copy, model_format="pickle")
    with pytest.raises(ModelError, match="not a valid manifest: model_format"):
        verify_bundle(bundle_copy)


def test_newer_manifest_format_asks_for_an_upgrade(bundle_copy: Path) -> None:
    _resign_manifest(bundle_copy, format_version=99)
    with pytest.raises(ModelError, match="format_version 99 is newer"):
        verify_bundle(bundle_copy)


@pytest.mark.parametrize("name", ["../etc/passwd", "sub/model.skops", ".hidden"])
def test_manifest_file_names_cannot_escape(bundle_copy: Path, name: str) -> None:
    data = json.loads((bundle_copy / "manifest.json").read_text())
    data["files"][name] = data["files"]["metrics.json"]
    (bundle_copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="invalid file name"):
        verify_bundle(bundle_copy)


# ---------------------------------------------------------------- trusted types


def test_allow_list() -> None:
    assert is_allowed_type("sklearn.linear_model._logistic.LogisticRegression")
    assert is_allowed_type("lightgbm.sklearn.LGBMClassifier")
    assert is_allowed_type("builtins.dict")
    assert not is_allowed_type("os.system")
    assert not is_allowed_type("mypkg.transformers.Custom")
    assert not is_allowed_type("builtins.eval")
    assert not is_allowed_type("sklearnx.Evil")


def test_unknown_trusted_type_is_refused_on_load(bundle_copy: Path) -> None:
    """A skops file naming a type outside the allow-list never loads, even with hashes fixed."""
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    sio.dump(FunctionTransformer(func=os.getcwd), bundle_copy / "model.skops")
    _refresh_hash(bundle_copy, "model.skops")
    with pytest.raises(ModelError, match=r"types outside the allow-list: posix.getcwd"):
        load_bundle(bundle_copy)


def test_types_missing_from_the_manifest_are_refused(bundle_copy: Path) -> None:
    _resign_manifest(bundle_copy, trusted_types=[])
    with pytest.raises(ModelError, match=r"types the manifest does not trust: numpy.dtype"):
        load_bundle(bundle_copy)


def test_bundles_saved_with_skops_default_trust_still_load(bundle_copy: Path) -> None:
    """A manifest written where skops trusted scikit-learn estimators by default lacks them."""
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    own = [t for t in manifest["trusted_types"] if not t.startswith("sklearn.")]
    _resign_manifest(bundle_copy, trusted_types=own)
    loaded = load_bundle(bundle_copy)
    assert loaded.pipeline.predict_proba is not None


def test_skops_is_imported_without_scanning_scikit_learn() -> None:
    """skops_io skips skops' import-time scan of every scikit-learn module (and Dask)."""
    import subprocess
    import sys

    code = (
        "import sys, sklearn.utils\n"
        "scan = sklearn.utils.all_estimators\n"
        "from conveyor.bundle._serialize import skops_io\n"
        "sio = skops_io()\n"
        "import skops.io._trusted_types as t\n"
        "print(len(t.SKLEARN_ESTIMATOR_TYPE_NAMES), 'dask' in sys.modules,\n"
        "      sklearn.utils.all_estimators is scan, skops_io() is sio)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False", "True", "True"]


def test_pipeline_with_a_foreign_type_falls_back_to_joblib(
    tmp_path: Path, churn: Any, churn_signature: Any, churn_columns: Any
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    numeric, _ = churn_columns
    pipe = Pipeline(
        [("pick", FunctionTransformer(_first_columns)), ("model", LogisticRegression())]
    ).fit(churn.X_train[numeric].fillna(0), churn.y_train)
    info = save_bundle(
        pipe,
        tmp_path / "b",
        signature=churn_signature,
        reference={},
        metrics={},
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        model_name="churn",
        X_check=churn.X_test[numeric].fillna(0),
    )
    m = info.manifest
    assert (m.model_format, m.model_file) == ("joblib", "model.joblib")
    assert "types outside the allow-list" in (m.format_reason or "")
    assert _first_columns.__module__ in m.format_reason
    # pickle is only ever loaded against the registry's digest
    with pytest.raises(ModelError, match=r"refusing to unpickle model.joblib"):
        load_bundle(info.path)
    loaded = load_bundle(info.path, expected_manifest_digest=info.manifest_digest)
    X = churn.X_test[numeric].fillna(0)
    np.testing.assert_array_equal(loaded.pipeline.predict_proba(X), pipe.predict_proba(X))


def _first_columns(X: Any) -> Any:
    return X.iloc[:, :3]


def test_library_version_mismatch_is_a_warning(bundle_copy: Path) -> None:
    data = json.loads((bundle_copy / "manifest.json").read_text())
    data["libraries"]["scikit-learn"] = "0.1.0"
    (bundle_copy / "manifest.json").write_text(json.dumps(data))
    loaded = load_bundle(bundle_copy)
    assert any("saved with scikit-learn 0.1.0" in w for w in loaded.warnings)
