from __future__ import annotations

import numpy as np
import pytest

from conveyor.config.models import ModelSpec
from conveyor.errors import ModelError
from conveyor.train import SHORT_NAMES, LabelEncodedClassifier, estimator_family, resolve_estimator
from conveyor.train.estimators import fit_time_weights


def resolve(estimator: str, task: str = "binary", **spec: object) -> object:
    return resolve_estimator(ModelSpec(estimator=estimator, **spec), task=task, seed=7)


@pytest.mark.parametrize("name", sorted(SHORT_NAMES))
def test_every_short_name_resolves_for_each_kind_it_declares(name: str) -> None:
    from sklearn.base import is_classifier, is_regressor

    for kind, task in (("classification", "multiclass"), ("regression", "regression")):
        if kind not in SHORT_NAMES[name]:
            with pytest.raises(ModelError, match=f"'{name}' is for"):
                resolve(name, task)
            continue
        est = resolve(name, task)
        assert is_classifier(est) if kind == "classification" else is_regressor(est)


def test_task_picks_classifier_or_regressor_and_seed_is_set() -> None:
    clf = resolve("lightgbm", "binary", params={"max_depth": 3})
    reg = resolve("lightgbm", "regression")
    assert type(clf).__name__ == "LGBMClassifier"
    assert type(reg).__name__ == "LGBMRegressor"
    assert clf.max_depth == 3
    assert clf.random_state == 7
    assert clf.get_params()["verbose"] == -1


def test_explicit_random_state_is_kept() -> None:
    assert resolve("random_forest", params={"random_state": 1}).random_state == 1


def test_import_path_and_dotted_path_both_work() -> None:
    a = resolve("sklearn.ensemble:ExtraTreesClassifier", params={"n_estimators": 5})
    b = resolve("sklearn.ensemble.ExtraTreesClassifier")
    assert type(a) is type(b)
    assert a.n_estimators == 5


def test_lightgbm_aliases_are_accepted() -> None:
    est = resolve("lightgbm", params={"min_data_in_leaf": 5, "feature_fraction": 0.8})
    assert est.get_params()["min_data_in_leaf"] == 5


def test_xgboost_classifier_is_label_encoded_and_regressor_is_not() -> None:
    clf = resolve("xgboost", "multiclass", params={"max_depth": 2})
    assert isinstance(clf, LabelEncodedClassifier)
    assert clf.estimator.max_depth == 2
    assert clf.estimator.random_state == 7
    assert estimator_family(clf) == "xgboost"
    assert type(resolve("xgboost", "regression")).__name__ == "XGBRegressor"


def test_misspelt_class_suggests_the_task_twin() -> None:
    with pytest.raises(ModelError) as err:
        resolve("sklearn.ensemble:RandomForrest")
    assert str(err.value) == (
        "models[0].estimator: cannot import 'sklearn.ensemble:RandomForrest' "
        "(module has no 'RandomForrest'; did you mean 'RandomForestClassifier'?)"
    )
    with pytest.raises(ModelError, match="did you mean 'RandomForestRegressor'"):
        resolve("sklearn.ensemble:RandomForrest", "regression")


def test_missing_module_names_it() -> None:
    with pytest.raises(ModelError, match=r"cannot import 'nosuchpkg\.mod:X' \(No module named"):
        resolve("nosuchpkg.mod:X")


def test_unknown_short_name_suggests_closest() -> None:
    with pytest.raises(
        ModelError, match=r"unknown estimator 'lightgmb' \(did you mean 'lightgbm'\?\)"
    ):
        resolve("lightgmb")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("collections:OrderedDict", "is not a scikit-learn compatible estimator"),
        ("math:pi", "is a float, not an estimator class"),
    ],
)
def test_not_an_estimator(path: str, expected: str) -> None:
    with pytest.raises(ModelError, match=expected):
        resolve(path)


def test_unknown_parameter_lists_valid_ones_and_suggests() -> None:
    with pytest.raises(ModelError) as err:
        resolve_estimator(
            ModelSpec(estimator="lightgbm", params={"max_dept": 3}),
            task="binary",
            seed=0,
            where="models[1]",
        )
    assert err.value.message == (
        "models[1].params: 'max_dept' is not a parameter of LGBMClassifier "
        "(did you mean 'max_depth'?)"
    )
    assert "num_leaves" in (err.value.hint or "")


def test_unknown_parameter_of_wrapped_xgboost_names_xgbclassifier() -> None:
    with pytest.raises(ModelError, match="'max_dpth' is not a parameter of XGBClassifier"):
        resolve("xgboost", params={"max_dpth": 3})


def test_invalid_parameter_value_is_reported_before_fit() -> None:
    with pytest.raises(
        ModelError, match=r"models\[0\]\.params: The 'C' parameter of LogisticRegression"
    ):
        resolve("logistic_regression", params={"C": -1})


@pytest.mark.parametrize(
    ("estimator", "task", "expected"),
    [
        (
            "sklearn.linear_model:LogisticRegression",
            "regression",
            "LogisticRegression is a classifier",
        ),
        (
            "sklearn.ensemble:RandomForestRegressor",
            "binary",
            "RandomForestRegressor is a regressor",
        ),
        ("logistic_regression", "regression", "'logistic_regression' is for classification only"),
        ("linear_regression", "binary", "'linear_regression' is for regression only"),
    ],
)
def test_wrong_kind_for_task(estimator: str, task: str, expected: str) -> None:
    with pytest.raises(ModelError, match=expected):
        resolve(estimator, task)


def test_class_weight_sets_estimator_parameter() -> None:
    assert resolve("random_forest", class_weight="balanced").class_weight == "balanced"
    assert resolve("lightgbm", class_weight="balanced").class_weight == "balanced"


def test_class_weight_errors() -> None:
    with pytest.raises(ModelError, match="class_weight: only applies to classification"):
        resolve("ridge", "regression", class_weight="balanced")
    with pytest.raises(ModelError, match="takes neither class_weight nor sample_weight"):
        resolve("knn", class_weight="balanced")


def test_fit_time_weights_for_xgboost() -> None:
    y = np.array(["no"] * 30 + ["yes"] * 10, dtype=object)
    spec = ModelSpec(estimator="xgboost", class_weight="balanced")
    params, weights = fit_time_weights(
        spec, resolve("xgboost", class_weight="balanced"), y, task="binary"
    )
    assert params == {"scale_pos_weight": 3.0}
    assert weights is None
    y3 = np.array(["a"] * 30 + ["b"] * 10 + ["c"] * 20, dtype=object)
    multi = resolve("xgboost", "multiclass", class_weight="balanced")
    params, weights = fit_time_weights(spec, multi, y3, task="multiclass")
    assert params == {}
    assert weights is not None
    # Balanced weights make every class weigh the same in total.
    totals = {c: weights[y3 == c].sum() for c in "abc"}
    assert max(totals.values()) == pytest.approx(min(totals.values()))


def test_fit_time_weights_keep_user_scale_pos_weight_and_skip_unbalanced() -> None:
    y = np.array(["no"] * 30 + ["yes"] * 10, dtype=object)
    spec = ModelSpec(estimator="xgboost", params={"scale_pos_weight": 2}, class_weight="balanced")
    est = resolve_estimator(spec, task="binary", seed=0)
    assert fit_time_weights(spec, est, y, task="binary") == ({}, None)
    plain = ModelSpec(estimator="xgboost")
    assert fit_time_weights(plain, resolve("xgboost"), y, task="binary") == ({}, None)


def test_estimator_needing_arguments_is_reported() -> None:
    with pytest.raises(
        ModelError,
        match=r"cannot create 'sklearn\.multiclass:OneVsRestClassifier' without arguments",
    ):
        resolve("sklearn.multiclass:OneVsRestClassifier")


def test_dotted_parameter_names_address_nested_parameters() -> None:
    from conveyor.train.estimators import check_param_names, param_key

    assert param_key("estimator.max_depth") == "estimator__max_depth"
    wrapped = resolve("xgboost")
    check_param_names(wrapped, ["max_depth"], where="w")  # checked against the inner XGBClassifier
    with pytest.raises(
        ModelError, match="'estimator__max_depth' is not a parameter of XGBClassifier"
    ):
        check_param_names(wrapped, [param_key("estimator.max_depth")], where="w")
