from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from conveyor.bundle.onnx_export import (
    export_onnx,
    feeds_from_frame,
    onnx_session,
    patch_hist_gradient_boosting_converter,
)


def _assert_proven(result: Any, pipeline: Any, X: pd.DataFrame) -> None:
    info = result.info
    assert info.present, info.reason
    assert result.model is not None
    assert info.reason is None
    assert info.max_abs_diff is not None and info.max_abs_diff <= 1e-4
    assert info.n_check_rows == len(X)
    # The recorded difference is the real one: recompute it independently.
    session = onnx_session(result.model)
    got = session.run([info.output], feeds_from_frame(info.inputs, X))[0]
    expected = pipeline.predict_proba(X)
    assert np.max(np.abs(got - expected)) == pytest.approx(info.max_abs_diff, abs=1e-12)


def test_logistic_regression_pipeline_converts_and_matches(lr_pipeline: Any, churn: Any) -> None:
    result = export_onnx(lr_pipeline, churn.X_test)
    _assert_proven(result, lr_pipeline, churn.X_test)
    info = result.info
    assert [i.name for i in info.inputs] == list(churn.X_train.columns)
    types = {i.name: i.type for i in info.inputs}
    assert types["tenure"] == "float32" and types["contract"] == "string"
    assert info.classes == ["No", "Yes"]
    assert info.missing_string == ""
    assert {"skl2onnx", "onnxruntime"} <= set(info.converter_versions)


def test_lightgbm_pipeline_converts_and_matches(lgbm_pipeline: Any, churn: Any) -> None:
    _assert_proven(export_onnx(lgbm_pipeline, churn.X_test), lgbm_pipeline, churn.X_test)


def test_xgboost_pipeline_converts_and_matches(xgb_pipeline: Any, churn: Any) -> None:
    result = export_onnx(xgb_pipeline, churn.X_test)
    _assert_proven(result, xgb_pipeline, churn.X_test)
    assert result.info.classes == [0, 1]


def test_hist_gradient_boosting_converts_with_the_workaround(hgb_pipeline: Any, churn: Any) -> None:
    _assert_proven(export_onnx(hgb_pipeline, churn.X_test), hgb_pipeline, churn.X_test)


def test_hist_gradient_boosting_with_native_missing_values(churn: Any, churn_columns: Any) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    numeric, _ = churn_columns
    X = churn.X_train[numeric].copy()
    X.loc[::7, "monthly_charges"] = np.nan  # HGB routes NaN itself: the flag we coerce matters
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, churn.y_train)
    X_check = churn.X_test[numeric].copy()
    X_check.loc[::5, "monthly_charges"] = np.nan
    result = export_onnx(model, X_check)
    _assert_proven(result, model, X_check)
    assert [i.name for i in result.info.inputs] == ["input"]  # no ColumnTransformer: one tensor
    assert result.info.inputs[0].columns == numeric


def test_unpatched_converter_fails_as_documented(
    hgb_pipeline: Any, churn: Any, monkeypatch: Any
) -> None:
    """Pins the upstream bug: if this starts passing, skl2onnx fixed it and the patch can go."""
    from skl2onnx.common import tree_ensemble

    from conveyor.bundle import onnx_export

    patch_hist_gradient_boosting_converter()
    monkeypatch.setattr(tree_ensemble, "add_node", tree_ensemble.add_node.__wrapped__)
    monkeypatch.setattr(onnx_export, "patch_hist_gradient_boosting_converter", lambda: False)
    result = export_onnx(hgb_pipeline, churn.X_test)
    assert not result.info.present
    assert "Expected an int, got a boolean" in (result.info.reason or "")


def test_patch_coerces_the_missing_flag_and_is_idempotent(monkeypatch: Any) -> None:
    from skl2onnx.common import tree_ensemble

    seen: list[Any] = []
    monkeypatch.setattr(
        tree_ensemble, "add_node", lambda *a, **k: seen.append(k["nodes_missing_value_tracks_true"])
    )
    assert patch_hist_gradient_boosting_converter()
    patched = tree_ensemble.add_node
    assert patch_hist_gradient_boosting_converter()
    assert tree_ensemble.add_node is patched  # not wrapped twice
    tree_ensemble.add_node(nodes_missing_value_tracks_true=False)
    tree_ensemble.add_node(nodes_missing_value_tracks_true=np.uint8(1))
    assert seen == [0, 1] and all(type(v) is int for v in seen)


def test_multiclass_pipeline_converts(churn: Any, fit_churn: Any) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from conveyor.bundle.onnx_export import input_contract

    X = churn.X_train.drop(columns=["contract"])
    y = churn.X_train["contract"]
    base = fit_churn(LogisticRegression(max_iter=1000))
    ct = base.named_steps["features"]
    ct.transformers = [
        (n, t, [c for c in cols if c != "contract"]) for n, t, cols in ct.transformers
    ]
    pipe = Pipeline([("features", ct), ("model", LogisticRegression(max_iter=1000))]).fit(X, y)
    X_check = churn.X_test.drop(columns=["contract"])
    result = export_onnx(pipe, X_check)
    _assert_proven(result, pipe, X_check)
    assert result.info.classes == ["Month-to-month", "One year", "Two year"]
    assert len(input_contract(pipe, X_check)) == X.shape[1]


def test_regressor_tolerance_is_relative_to_the_value_scale(churn: Any, churn_columns: Any) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    numeric, _ = churn_columns
    X = churn.X_train[numeric].drop(columns=["total_charges"])
    y = churn.X_train["total_charges"].fillna(0) * 100  # values up to ~900000
    model = lightgbm.LGBMRegressor(n_estimators=30, n_jobs=1, verbose=-1).fit(X, y)
    result = export_onnx(model, churn.X_test[X.columns])
    info = result.info
    assert info.present, info.reason
    assert info.classes is None
    # float32 cannot match to 1e-4 absolute at this scale, but does relatively
    expected = model.predict(churn.X_test[X.columns])
    assert info.max_abs_diff <= 1e-4 * np.max(np.abs(expected))


def test_too_large_a_difference_drops_onnx_with_the_reason(lr_pipeline: Any, churn: Any) -> None:
    result = export_onnx(lr_pipeline, churn.X_test, tolerance=0.0)
    info = result.info
    assert result.model is None and not info.present
    assert info.max_abs_diff is not None and info.max_abs_diff > 0
    assert info.reason.startswith("ONNX differs from the Python pipeline by")
    assert f"on {len(churn.X_test)} check rows (tolerance 0)" in info.reason


def test_text_pipeline_keeps_the_python_path(tmp_path: Any, shared_datasets: Any) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from conveyor.bundle import build_reference, build_signature, load_bundle, save_bundle

    frame = pd.read_csv(shared_datasets / "amazon_reviews" / "training_data.csv").head(300)
    y = frame.pop("score")
    X = frame[["review"]]
    pipe = Pipeline(
        [
            ("features", ColumnTransformer([("text", TfidfVectorizer(min_df=2), "review")])),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, y)
    sig = build_signature(
        X, task="binary", target="score", classes=list(pipe.classes_), text_columns=["review"]
    )
    info = save_bundle(
        pipe,
        tmp_path / "b",
        signature=sig,
        reference=build_reference(X, pipe.predict(X), numeric=[], categorical=[], seed=0),
        metrics={},
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        model_name="reviews",
        X_check=X.tail(50),
    )
    onnx_info = info.manifest.onnx
    assert not onnx_info.present and onnx_info.reason
    assert "model.onnx" not in info.manifest.files
    loaded = load_bundle(info.path, expected_manifest_digest=info.manifest_digest)
    assert loaded.onnx_session is None
    runtime = loaded.runtime()
    assert runtime.engine == "python"
    (out,) = runtime.predict_records([{"review": "great product, works perfectly"}])
    assert out["label"] in pipe.classes_.tolist()


def test_custom_transformer_keeps_the_python_path_with_reason(
    churn: Any, churn_columns: Any
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    numeric, _ = churn_columns
    X = churn.X_train[numeric].fillna(0)
    pipe = Pipeline(
        [("log", FunctionTransformer(np.log1p)), ("model", LogisticRegression(max_iter=500))]
    )
    pipe.fit(X, churn.y_train)
    result = export_onnx(pipe, churn.X_test[numeric].fillna(0))
    assert result.model is None
    assert result.info.reason.startswith("conversion failed: ")
    assert "FunctionTransformer" in result.info.reason


def test_datetime_inputs_are_not_converted(churn: Any) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X = pd.DataFrame(
        {"when": pd.date_range("2024-01-01", periods=60, freq="D"), "x": np.arange(60.0)}
    )
    y = np.arange(60) % 2
    pipe = Pipeline(
        [("f", ColumnTransformer([("x", "passthrough", ["x"])])), ("m", LogisticRegression())]
    ).fit(X, y)
    result = export_onnx(pipe, X)
    assert result.info.reason == "column 'when' is a datetime; ONNX inputs are numbers or strings"


def test_classifier_without_probabilities_is_not_converted(churn: Any, churn_columns: Any) -> None:
    from sklearn.linear_model import RidgeClassifier

    numeric, _ = churn_columns
    model = RidgeClassifier().fit(churn.X_train[numeric].fillna(0), churn.y_train)
    result = export_onnx(model, churn.X_test[numeric].fillna(0))
    assert result.info.reason == "the classifier has no predict_proba"


def test_no_check_rows(lr_pipeline: Any, churn: Any) -> None:
    result = export_onnx(lr_pipeline, churn.X_test.iloc[:0])
    assert result.model is None and "no check rows" in result.info.reason


# ---------------------------------------------------------------- identity-step protocol


class _CastFloat(TransformerMixin, BaseEstimator):
    """Like features' ToFloat: a cast, which is the identity on float32 ONNX inputs."""

    def fit(self, X: Any, y: Any = None) -> _CastFloat:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)

    def onnx_passthrough(self) -> str:
        return "float32"


class _AsText(TransformerMixin, BaseEstimator):
    """Like features' CategoryStrings: values to category text, missing to NaN."""

    def fit(self, X: Any, y: Any = None) -> _AsText:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        from conveyor.bundle import category_text

        values = np.asarray(X, dtype=object)
        out = np.empty(values.shape, dtype=object)
        for idx, v in np.ndenumerate(values):
            out[idx] = np.nan if pd.isna(v) else category_text(v)
        return out

    def onnx_passthrough(self) -> str:
        return "string"


class _NoDerived(TransformerMixin, BaseEstimator):
    """Like features' DerivedFeatures with no expressions: hands the frame on unchanged."""

    def fit(self, X: Any, y: Any = None) -> _NoDerived:
        return self

    def transform(self, X: Any) -> Any:
        return X

    def onnx_passthrough(self) -> str:
        return "any"


class _Opaque(_AsText):
    """Same computation, but does not declare itself an identity."""

    onnx_passthrough = None  # type: ignore[assignment]


def _protocol_pipeline(churn: Any, churn_columns: Any, text_step: type) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric, categorical = churn_columns
    numeric = [c for c in numeric if c != "senior_citizen"]
    categorical = [*categorical, "senior_citizen"]  # an integer column used as a category
    ct = ColumnTransformer(
        [
            (
                "num",
                Pipeline([("f", _CastFloat()), ("i", SimpleImputer()), ("s", StandardScaler())]),
                numeric,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("t", text_step()),
                        ("i", SimpleImputer(strategy="constant", fill_value="__missing__")),
                        (
                            "e",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist", sparse_output=False
                            ),
                        ),
                    ]
                ),
                categorical,
            ),
        ]
    )
    pipe = Pipeline(
        [("derived", _NoDerived()), ("columns", ct), ("model", LogisticRegression(max_iter=1000))]
    )
    return pipe.fit(churn.X_train, churn.y_train)


def test_identity_steps_are_dropped_and_fix_the_input_types(churn: Any, churn_columns: Any) -> None:
    pipe = _protocol_pipeline(churn, churn_columns, _AsText)
    result = export_onnx(pipe, churn.X_test)
    _assert_proven(result, pipe, churn.X_test)
    types = {i.name: i.type for i in result.info.inputs}
    assert types["senior_citizen"] == "string"  # int dtype, but its branch starts with text
    assert types["tenure"] == "float32" and types["contract"] == "string"
    assert result.info.text_rule == "category_text/1"
    # the original pipeline is untouched
    assert [name for name, _ in pipe.steps] == ["derived", "columns", "model"]
    assert isinstance(pipe.named_steps["columns"].named_transformers_["cat"].steps[0][1], _AsText)


def test_steps_without_the_protocol_keep_the_python_path(churn: Any, churn_columns: Any) -> None:
    pipe = _protocol_pipeline(churn, churn_columns, _Opaque)
    result = export_onnx(pipe, churn.X_test)
    assert result.model is None
    assert "_Opaque" in (result.info.reason or "")


def test_runtime_feeds_category_text_for_numeric_categories(
    tmp_path: Any, churn: Any, churn_columns: Any, to_records: Any
) -> None:
    from conveyor.bundle import BundleRuntime, build_signature, load_bundle, save_bundle

    _, categorical = churn_columns
    pipe = _protocol_pipeline(churn, churn_columns, _AsText)
    sig = build_signature(
        churn.X_train,
        task="binary",
        target="churn",
        classes=list(pipe.classes_),
        categorical_columns=[*categorical, "senior_citizen"],
        nullable_columns=list(churn.X_train.columns),
    )
    assert sig.field("senior_citizen").type == "integer"
    info = save_bundle(
        pipe,
        tmp_path / "b",
        signature=sig,
        reference={},
        metrics={},
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        model_name="churn",
        X_check=churn.X_test,
    )
    assert info.manifest.model_format == "joblib"  # the test's own classes are not allow-listed
    loaded = load_bundle(info.path, expected_manifest_digest=info.manifest_digest)
    records = to_records(churn.X_test)
    for r in records[:20]:
        r["senior_citizen"] = float(r["senior_citizen"])  # 1.0 and 1 are the same category
    fast = BundleRuntime(loaded).predict_records(records)
    slow = BundleRuntime(loaded, use_onnx=False).predict_records(records)
    assert BundleRuntime(loaded).engine == "onnx"
    np.testing.assert_allclose(
        [r["probabilities"]["Yes"] for r in fast],
        [r["probabilities"]["Yes"] for r in slow],
        atol=info.manifest.onnx.max_abs_diff + 1e-9,
    )


def test_category_text_rule() -> None:
    from conveyor.bundle import category_text

    assert [category_text(v) for v in (1, 1.0, np.int64(2), np.float32(2.5), True, np.bool_(False))] == [
        "1", "1", "2", "2.5", "True", "False",
    ]  # fmt: skip
    assert [category_text(v) for v in (None, float("nan"), pd.NA, "x", "")] == ["", "", "", "x", ""]


def test_conveyor_feature_pipelines_take_the_onnx_path(churn_csv: Any) -> None:
    """Integration with conveyor.features once its transformers implement the protocol."""
    features = pytest.importorskip("conveyor.features")
    if not hasattr(features.ToFloat, "onnx_passthrough"):
        pytest.skip("conveyor.features transformers do not implement onnx_passthrough yet")
    import polars as pl
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from conveyor.config.models import FeaturesConfig

    frame = pl.read_csv(churn_csv).head(800)
    config = FeaturesConfig()
    types = features.detect_column_types(frame, target="churn", id_column=None, config=config)
    pre = features.build_preprocessor(config, types, task="binary", seed=0)
    X = features.to_model_frame(frame.drop("churn"))
    y = frame["churn"].to_numpy()
    pipe = Pipeline([*pre.steps, ("model", LogisticRegression(max_iter=1000))]).fit(
        X[:600], y[:600]
    )
    result = export_onnx(pipe, X[600:])
    _assert_proven(result, pipe, X[600:])


class _Encoded(ClassifierMixin, BaseEstimator):
    """Like train's LabelEncodedClassifier: XGBoost on 0..k-1, answering in the original labels."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> _Encoded:
        self.classes_, codes = np.unique(np.asarray(y, dtype=object), return_inverse=True)
        self.estimator_ = self.estimator.fit(X, codes)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def onnx_substitute(self) -> Any:
        return self.estimator_


def test_wrapped_final_estimator_is_converted_through_its_substitute(churn: Any) -> None:
    xgboost = pytest.importorskip("xgboost")
    from sklearn.pipeline import Pipeline

    base = Pipeline([("features", _column_transformer_for(churn))])
    pipe = Pipeline(
        [
            *base.steps,
            ("model", _Encoded(xgboost.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1))),
        ]
    ).fit(churn.X_train, churn.y_train)
    result = export_onnx(pipe, churn.X_test)
    _assert_proven(result, pipe, churn.X_test)
    assert result.info.classes == ["No", "Yes"]  # the wrapper's labels, not 0/1


def _column_transformer_for(churn: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    numeric = [c for c in churn.X_train.columns if churn.X_train[c].dtype.kind in "fi"]
    text = [c for c in churn.X_train.columns if c not in numeric]
    return ColumnTransformer(
        [
            ("num", SimpleImputer(), numeric),
            (
                "cat",
                Pipeline(
                    [
                        ("i", SimpleImputer(strategy="constant", fill_value="__missing__")),
                        ("e", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                text,
            ),
        ]
    )


def test_boosting_converters_are_registered_per_library() -> None:
    """A LightGBM export must not pay for importing XGBoost (a fresh process shows it)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from conveyor.bundle.onnx_export import register_boosting_converters\n"
        "print(register_boosting_converters(frozenset({'lightgbm', 'sklearn'})))\n"
        "print('xgboost' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["('LGBMClassifier', 'LGBMRegressor')", "False"]
