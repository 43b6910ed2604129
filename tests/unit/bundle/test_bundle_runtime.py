from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conveyor.bundle import BundleRuntime, InvalidRecords, load_bundle, save_bundle
from conveyor.errors import SchemaError

pytest.importorskip("onnxruntime")


def _save(pipeline: Any, path: Path, churn: Any, signature: Any) -> Any:
    info = save_bundle(
        pipeline,
        path,
        signature=signature,
        reference={},
        metrics={},
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        model_name="churn",
        X_check=churn.X_test,
    )
    return load_bundle(path, expected_manifest_digest=info.manifest_digest)


def _assert_agree(loaded: Any, records: list[dict[str, Any]]) -> None:
    fast = BundleRuntime(loaded)
    slow = BundleRuntime(loaded, use_onnx=False)
    assert (fast.engine, slow.engine) == ("onnx", "python")
    a, b = fast.predict_records(records), slow.predict_records(records)
    assert len(a) == len(b) == len(records)
    pa = np.array([list(r["probabilities"].values()) for r in a])
    pb = np.array([list(r["probabilities"].values()) for r in b])
    # The records are the check rows, so the runtime must reproduce the recorded difference.
    recorded = loaded.manifest.onnx.max_abs_diff
    assert recorded <= loaded.manifest.onnx.tolerance
    np.testing.assert_allclose(pa, pb, atol=recorded + 1e-9, rtol=0)
    np.testing.assert_allclose(pa.sum(axis=1), 1.0, atol=1e-5)
    # Labels agree except where a probability sits within float32 noise of the threshold.
    t = a[0].get("threshold", 0.5)
    clear = np.abs(pb[:, 1] - t) > recorded
    assert [r["label"] for r, c in zip(a, clear) if c] == [
        r["label"] for r, c in zip(b, clear) if c
    ]
    # and the Python side matches the bundle's own predict()
    frame = loaded.signature.validate_records(records)[0]
    assert [r["label"] for r in b] == loaded.predict(frame).tolist()


def test_lr_runtime_onnx_and_python_agree(
    saved_lr_bundle: Any, churn: Any, to_records: Any
) -> None:
    loaded = load_bundle(
        saved_lr_bundle.path, expected_manifest_digest=saved_lr_bundle.manifest_digest
    )
    _assert_agree(loaded, to_records(churn.X_test))  # includes missing text and numbers


def test_output_shape_for_binary(saved_lr_bundle: Any, churn: Any, to_records: Any) -> None:
    runtime = load_bundle(saved_lr_bundle.path).runtime()
    (out,) = runtime.predict_records(to_records(churn.X_test.head(1)))
    assert set(out) == {"label", "probabilities", "threshold"}
    assert set(out["probabilities"]) == {"No", "Yes"}
    assert out["threshold"] == 0.4
    assert out["label"] == ("Yes" if out["probabilities"]["Yes"] >= 0.4 else "No")
    assert all(type(p) is float for p in out["probabilities"].values())


@pytest.mark.parametrize("fixture", ["lgbm_pipeline", "xgb_pipeline", "hgb_pipeline"])
def test_boosted_runtimes_agree(
    fixture: str, request: Any, tmp_path: Path, churn: Any, churn_signature: Any, to_records: Any
) -> None:
    pipeline = request.getfixturevalue(fixture)
    signature = churn_signature
    if fixture == "xgb_pipeline":
        signature = churn_signature.model_copy(update={"classes": [0, 1], "positive_class": 1})
    loaded = _save(pipeline, tmp_path / "b", churn, signature)
    assert loaded.manifest.onnx.present, loaded.manifest.onnx.reason
    _assert_agree(loaded, to_records(churn.X_test))


def test_invalid_records_raise_with_every_error(
    saved_lr_bundle: Any, churn: Any, to_records: Any
) -> None:
    runtime = load_bundle(saved_lr_bundle.path).runtime()
    good = to_records(churn.X_test.head(1))[0]
    bad = [good | {"tenure": "long"}, good, good | {"monthly_charges": "12", "contract": 5}]
    with pytest.raises(InvalidRecords) as info:
        runtime.predict_records(bad)
    err = info.value
    assert isinstance(err, SchemaError)
    assert [(e.index, e.field) for e in err.errors] == [
        (0, "tenure"),
        (2, "contract"),
        (2, "monthly_charges"),
    ]
    assert "3 invalid field(s)" in str(err)
    assert "record 0: field 'tenure': expected integer, got string 'long'" in str(err)


def test_unknown_category_is_refused_unless_relaxed(
    saved_lr_bundle: Any, churn: Any, to_records: Any
) -> None:
    loaded = load_bundle(saved_lr_bundle.path)
    record = to_records(churn.X_test.head(1))[0] | {"contract": "Three year"}
    with pytest.raises(InvalidRecords, match="unknown category 'Three year'"):
        BundleRuntime(loaded).predict_records([record])
    relaxed = BundleRuntime(loaded, strict_categories=False)
    assert len(relaxed.predict_records([record])) == 1
    assert relaxed.engine == "onnx"
    # an unseen category is "all zeros" in both encoders
    python = BundleRuntime(loaded, use_onnx=False, strict_categories=False)
    (fast,) = relaxed.predict_records([record])
    (slow,) = python.predict_records([record])
    assert fast["probabilities"]["Yes"] == pytest.approx(slow["probabilities"]["Yes"], abs=1e-5)


def test_empty_batch(saved_lr_bundle: Any) -> None:
    assert load_bundle(saved_lr_bundle.path).runtime().predict_records([]) == []


def test_class_order_mismatch_falls_back_to_python(saved_lr_bundle: Any) -> None:
    loaded = load_bundle(saved_lr_bundle.path)
    loaded.signature = loaded.signature.model_copy(update={"classes": ["Yes", "No"]})
    runtime = BundleRuntime(loaded)
    assert runtime.engine == "python"
    assert any("class order" in w for w in loaded.warnings)


def test_regression_runtime(tmp_path: Path, churn: Any, to_records: Any) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from conveyor.bundle import build_signature

    X = churn.X_train[["tenure", "monthly_charges", "contract"]]
    y = churn.X_train["total_charges"].fillna(0)
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    pipe = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("num", SimpleImputer(), ["tenure", "monthly_charges"]),
                        ("cat", categorical, ["contract"]),
                    ]
                ),
            ),
            ("model", Ridge()),
        ]
    ).fit(X, y)
    sig = build_signature(
        X,
        task="regression",
        target="total_charges",
        categorical_columns=["contract"],
        nullable_columns=["contract"],
    )
    X_check = churn.X_test[X.columns]
    info = save_bundle(
        pipe,
        tmp_path / "r",
        signature=sig,
        reference={},
        metrics={"rmse": 100.0},
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        model_name="charges",
        X_check=X_check,
    )
    assert info.manifest.onnx.present, info.manifest.onnx.reason
    loaded = load_bundle(info.path)
    records = to_records(X_check)
    fast = BundleRuntime(loaded).predict_records(records)
    slow = BundleRuntime(loaded, use_onnx=False).predict_records(records)
    assert set(fast[0]) == {"value"}
    expected = pipe.predict(X_check)
    np.testing.assert_allclose([r["value"] for r in slow], expected)
    np.testing.assert_allclose([r["value"] for r in fast], expected, rtol=1e-5, atol=1e-2)
