"""ONNX export and serving of pipelines that start with derived features (computed in Python)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from conveyor.bundle import BundleRuntime, build_signature, load_bundle, save_bundle
from conveyor.bundle._onnx_io import flat_steps, record_step, split_record_step
from conveyor.bundle.onnx_export import (
    export_onnx,
    feeds_from_frame,
    onnx_session,
)

CHURN_DERIVED = {
    "charge_per_month": "total_charges / (tenure + 1)",
    "long_contract": "if(contract != 'Month-to-month', 1, 0)",
}
TEXT_DERIVED = {
    **CHURN_DERIVED,
    "contract_length": "if(contract == 'Month-to-month', 'short', 'long')",
}


def _fit(churn_csv: Path, derived: dict[str, str], estimator: Any) -> tuple[Any, Any, Any, Any]:
    """A pipeline shaped as training builds it: features (derived + columns) then the model."""
    import polars as pl
    from sklearn.pipeline import Pipeline

    from conveyor.config.models import FeaturesConfig
    from conveyor.features import build_preprocessor, detect_column_types, to_model_frame

    frame = pl.read_csv(churn_csv).head(1400)
    config = FeaturesConfig(derived=derived)
    types = detect_column_types(frame, target="churn", id_column=None, config=config)
    pre = build_preprocessor(config, types, task="binary", seed=0)
    X = to_model_frame(frame.drop("churn"))
    y = frame["churn"].to_numpy()
    X_train, X_test = X.iloc[:900], X.iloc[900:].reset_index(drop=True)
    X_test.loc[:4, "total_charges"] = np.nan  # missing inputs give missing derived values
    X_test.loc[5:9, "contract"] = None
    pipe = Pipeline([("features", pre), ("model", estimator)]).fit(X_train, y[:900])
    return pipe, X_train, X_test, types


def _lr() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


@pytest.fixture(scope="module")
def derived_lr(churn_csv: Path) -> tuple[Any, Any, Any, Any]:
    return _fit(churn_csv, CHURN_DERIVED, _lr())


def _saved(tmp_path: Path, fitted: tuple[Any, Any, Any, Any]) -> Any:
    pipe, X_train, X_test, types = fitted
    sig = build_signature(
        X_train,
        task="binary",
        target="churn",
        classes=list(pipe.classes_),
        positive_class="Yes",
        threshold=0.4,
        categorical_columns=[c for c in types.categorical if c in X_train.columns],
        nullable_columns=list(X_train.columns),
    )
    info = save_bundle(
        pipe,
        tmp_path / "bundle",
        signature=sig,
        reference={},
        metrics={},
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        model_name="churn",
        X_check=X_test,
    )
    return load_bundle(info.path, expected_manifest_digest=info.manifest_digest)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        out.append(
            {
                k: None
                if v is None or (isinstance(v, float) and v != v)
                else (v.item() if hasattr(v, "item") else v)
                for k, v in row.items()
            }
        )
    return out


def _proba(results: list[dict[str, Any]]) -> np.ndarray:
    return np.array([r["probabilities"]["Yes"] for r in results])


def test_derived_pipeline_exports_with_derived_inputs(derived_lr: Any) -> None:
    pipe, _, X_test, _ = derived_lr
    result = export_onnx(pipe, X_test)
    info = result.info
    assert info.present, info.reason
    assert info.derived == CHURN_DERIVED
    types = {i.name: i.type for i in info.inputs}
    assert types["charge_per_month"] == "float32" and types["long_contract"] == "float32"
    assert info.max_abs_diff is not None and info.max_abs_diff <= 1e-4
    # The recorded difference is real: feed the batch-path derived columns independently.
    fed = pipe.named_steps["features"].named_steps["derived"].transform(X_test)
    got = onnx_session(result.model).run([info.output], feeds_from_frame(info.inputs, fed))[0]
    assert np.max(np.abs(got - pipe.predict_proba(X_test))) <= 1e-4
    # the original pipeline is untouched
    assert [name for name, _ in pipe.steps] == ["features", "model"]


def test_runtime_serves_derived_pipeline_on_onnx(tmp_path: Path, derived_lr: Any) -> None:
    pipe, _, X_test, _ = derived_lr
    loaded = _saved(tmp_path, derived_lr)
    assert loaded.manifest.onnx.derived == CHURN_DERIVED
    fast = BundleRuntime(loaded)
    assert fast.engine == "onnx"
    records = _records(X_test.iloc[:500])
    got = fast.predict_records(records)
    frame = loaded.signature.validate_records(records)[0]
    expected = pipe.predict_proba(frame)[:, list(pipe.classes_).index("Yes")]
    np.testing.assert_allclose(_proba(got), expected, atol=1e-4, rtol=0)
    # one record at a time gives the same answers as the batch
    one = [fast.predict_records([r])[0] for r in records[:20]]
    np.testing.assert_allclose(_proba(one), _proba(got[:20]), atol=1e-6, rtol=0)


def test_string_derived_feature_is_a_string_input(tmp_path: Path, churn_csv: Path) -> None:
    fitted = _fit(churn_csv, TEXT_DERIVED, _lr())
    pipe, _, X_test, _ = fitted
    loaded = _saved(tmp_path, fitted)
    info = loaded.manifest.onnx
    assert info.present, info.reason
    assert {i.name: i.type for i in info.inputs}["contract_length"] == "string"
    runtime = BundleRuntime(loaded)
    assert runtime.engine == "onnx"
    records = _records(X_test.iloc[:500])
    frame = loaded.signature.validate_records(records)[0]
    np.testing.assert_allclose(
        _proba(runtime.predict_records(records)),
        pipe.predict_proba(frame)[:, 1],
        atol=1e-4,
        rtol=0,
    )


def test_large_batches_compute_derived_features_on_a_frame_with_the_same_answers(
    tmp_path: Path, churn_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor.bundle import runtime as runtime_module

    fitted = _fit(churn_csv, TEXT_DERIVED, _lr())
    loaded = _saved(tmp_path, fitted)
    runtime = BundleRuntime(loaded)
    assert runtime.engine == "onnx"
    records = _records(fitted[2].iloc[:120])
    columns = runtime.validate(records)[0]
    per_record = runtime._with_derived(columns)
    monkeypatch.setattr(runtime_module, "_DERIVED_FRAME_FROM", 100)
    on_frame = runtime._with_derived(columns)
    assert set(on_frame) == set(per_record) >= set(TEXT_DERIVED)
    for name in TEXT_DERIVED:
        a, b = per_record[name], on_frame[name]
        if name == "contract_length":
            assert a == b and a[5] == "long"  # a null condition is false on both paths
        else:
            np.testing.assert_array_equal(np.array(a, dtype=float), np.array(b, dtype=float))
    np.testing.assert_allclose(
        _proba(runtime.predict_records(records)),
        _proba(BundleRuntime(loaded, use_onnx=False).predict_records(records)),
        atol=1e-4,
        rtol=0,
    )


def test_lightgbm_with_derived_features(tmp_path: Path, churn_csv: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    model = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=8, n_jobs=1, verbose=-1)
    fitted = _fit(churn_csv, CHURN_DERIVED, model)
    loaded = _saved(tmp_path, fitted)
    assert loaded.manifest.onnx.present, loaded.manifest.onnx.reason
    records = _records(fitted[2].iloc[:300])
    fast, slow = BundleRuntime(loaded), BundleRuntime(loaded, use_onnx=False)
    assert fast.engine == "onnx"
    np.testing.assert_allclose(
        _proba(fast.predict_records(records)),
        _proba(slow.predict_records(records)),
        atol=1e-4,
        rtol=0,
    )


def test_runtime_refuses_onnx_when_the_pipeline_computes_other_features(
    tmp_path: Path, derived_lr: Any
) -> None:
    from dataclasses import replace

    loaded = _saved(tmp_path, derived_lr)
    onnx = loaded.manifest.onnx.model_copy(update={"derived": {"charge_per_month": "tenure * 2"}})
    tampered = replace(
        loaded, manifest=loaded.manifest.model_copy(update={"onnx": onnx}), warnings=[]
    )
    runtime = BundleRuntime(tampered)
    assert runtime.engine == "python"
    assert any("derived features" in w for w in tampered.warnings)
    # and Python still answers
    assert len(runtime.predict_records(_records(derived_lr[2].iloc[:3]))) == 3


def test_flat_steps_splices_nested_leading_pipelines(derived_lr: Any) -> None:
    pipe = derived_lr[0]
    assert [name for name, _ in flat_steps(pipe)] == ["derived", "columns", "model"]
    assert flat_steps(pipe.named_steps["model"]) is None
    assert record_step(pipe) is pipe.named_steps["features"].named_steps["derived"]
    step, rest = split_record_step(pipe)
    assert step is not None and [name for name, _ in rest.steps] == ["columns", "model"]


def test_no_derived_features_means_no_record_step(churn_csv: Path) -> None:
    pipe, _, X_test, _ = _fit(churn_csv, {}, _lr())
    assert record_step(pipe) is None
    result = export_onnx(pipe, X_test)
    assert result.info.present, result.info.reason
    assert result.info.derived == {}
    assert "charge_per_month" not in {i.name for i in result.info.inputs}
