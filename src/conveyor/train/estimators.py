"""Turn a ``models[i]`` entry of ``conveyor.yaml`` into an unfitted estimator.

An estimator is named by a short name (``lightgbm``, ``random_forest``, …)
that picks the classifier or the regressor by task, or by an import path
``package.module:Class`` for any scikit-learn compatible estimator. Every
mistake (an import that fails, a class that is not an estimator, a parameter
it does not take, a classifier for a regression task) is a
:class:`~conveyor.errors.ModelError` naming the key path and the closest
valid spelling.

Example:
    >>> from conveyor.config.models import ModelSpec
    >>> est = resolve_estimator(ModelSpec(estimator="random_forest", params={"max_depth": 3}),
    ...                         task="binary", seed=7)
    >>> type(est).__name__, est.max_depth, est.random_state
    ('RandomForestClassifier', 3, 7)
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Iterable
from typing import Any

import numpy as np

from conveyor.config.models import ModelSpec
from conveyor.errors import ModelError

__all__ = [
    "SHORT_NAMES",
    "accepted_params",
    "check_param_names",
    "estimator_family",
    "fit_time_weights",
    "inner_estimator",
    "param_key",
    "resolve_estimator",
    "task_kind",
]

_C, _R = "classification", "regression"

SHORT_NAMES: dict[str, dict[str, str]] = {
    "logistic_regression": {_C: "sklearn.linear_model:LogisticRegression"},
    "linear_regression": {_R: "sklearn.linear_model:LinearRegression"},
    "ridge": {_C: "sklearn.linear_model:RidgeClassifier", _R: "sklearn.linear_model:Ridge"},
    "lasso": {_R: "sklearn.linear_model:Lasso"},
    "elastic_net": {_R: "sklearn.linear_model:ElasticNet"},
    "sgd": {_C: "sklearn.linear_model:SGDClassifier", _R: "sklearn.linear_model:SGDRegressor"},
    "decision_tree": {
        _C: "sklearn.tree:DecisionTreeClassifier",
        _R: "sklearn.tree:DecisionTreeRegressor",
    },
    "random_forest": {
        _C: "sklearn.ensemble:RandomForestClassifier",
        _R: "sklearn.ensemble:RandomForestRegressor",
    },
    "extra_trees": {
        _C: "sklearn.ensemble:ExtraTreesClassifier",
        _R: "sklearn.ensemble:ExtraTreesRegressor",
    },
    "gradient_boosting": {
        _C: "sklearn.ensemble:GradientBoostingClassifier",
        _R: "sklearn.ensemble:GradientBoostingRegressor",
    },
    "hist_gradient_boosting": {
        _C: "sklearn.ensemble:HistGradientBoostingClassifier",
        _R: "sklearn.ensemble:HistGradientBoostingRegressor",
    },
    "lightgbm": {_C: "lightgbm:LGBMClassifier", _R: "lightgbm:LGBMRegressor"},
    "xgboost": {_C: "xgboost:XGBClassifier", _R: "xgboost:XGBRegressor"},
    "svc": {_C: "sklearn.svm:SVC"},
    "svr": {_R: "sklearn.svm:SVR"},
    "knn": {
        _C: "sklearn.neighbors:KNeighborsClassifier",
        _R: "sklearn.neighbors:KNeighborsRegressor",
    },
    "naive_bayes": {_C: "sklearn.naive_bayes:GaussianNB"},
    "mlp": {_C: "sklearn.neural_network:MLPClassifier", _R: "sklearn.neural_network:MLPRegressor"},
    "dummy": {_C: "sklearn.dummy:DummyClassifier", _R: "sklearn.dummy:DummyRegressor"},
}
"""Short name -> ``{"classification": import path, "regression": import path}``.

A name missing a kind (``logistic_regression`` has no regressor) is an error
for that kind of task."""

_EXTRA_HINTS = {
    "lightgbm": "install the boosting extra: pip install 'conveyor[boost]'",
    "xgboost": "install the boosting extra: pip install 'conveyor[boost]'",
}

# Core XGBoost parameters the scikit-learn wrapper forwards through **kwargs
# without listing them in get_params(); accepted so users can write them.
_XGB_CORE_PARAMS = frozenset(
    {
        "eta",
        "lambda",
        "alpha",
        "min_split_loss",
        "seed",
        "nthread",
        "max_cat_to_onehot",
        "num_class",
        "single_precision_histogram",
        "refresh_leaf",
        "process_type",
        "sketch_eps",
        "updater",
        "base_margin",
        "disable_default_eval_metric",
        "huber_slope",
        "quantile_alpha",
        "aft_loss_distribution",
        "tweedie_variance_power",
        "max_bin",
        "lambda_bias",
        "grow_policy",
        "colsample_bylevel",
        "colsample_bynode",
    }
)


def task_kind(task: str) -> str:
    """``classification`` for binary and multiclass tasks, else ``regression``."""
    return _R if task == "regression" else _C


def param_key(name: str) -> str:
    """A config parameter name as scikit-learn spells it: dots become ``__``.

    ``estimator.max_depth`` in YAML addresses the nested parameter
    ``estimator__max_depth`` of a meta-estimator.
    """
    return name.replace(".", "__")


def resolve_estimator(spec: ModelSpec, *, task: str, seed: int, where: str = "models[0]") -> Any:
    """Build the unfitted estimator a model spec describes.

    Params from the spec are applied; ``random_state`` is set to ``seed``
    when the estimator has one and the spec does not; ``class_weight:
    balanced`` becomes the estimator's own ``class_weight`` where it has one
    (scikit-learn, LightGBM) and fit-time weights otherwise (see
    :func:`fit_time_weights`). XGBoost classifiers come wrapped in a
    :class:`~conveyor.train.labels.LabelEncodedClassifier` so any labels work.

    Args:
        spec: the ``models[i]`` entry.
        task: ``binary``, ``multiclass`` or ``regression``.
        seed: the project seed.
        where: key path used in error messages.

    Raises:
        ModelError: unknown short name, failed import, not an estimator,
            unknown parameter, invalid parameter value, or the wrong kind of
            estimator for the task.
    """
    from sklearn.base import is_classifier, is_regressor

    kind = task_kind(task)
    path = _import_path(spec.estimator, kind=kind, where=where)
    cls = _import_class(path, kind=kind, where=where)
    estimator = _instantiate(cls, path=path, where=where)
    cls_name = type(estimator).__name__
    if kind == _R and is_classifier(estimator):
        raise ModelError(
            f"{where}.estimator: {cls_name} is a classifier but task is '{task}'; "
            f"pick a regressor (e.g. {_examples(_R)})"
        )
    if kind == _C and is_regressor(estimator):
        raise ModelError(
            f"{where}.estimator: {cls_name} is a regressor but task is '{task}'; "
            f"pick a classifier (e.g. {_examples(_C)})"
        )

    params = {param_key(k): v for k, v in spec.params.items()}
    check_param_names(estimator, params, where=f"{where}.params")
    accepted = estimator.get_params(deep=True)
    family = estimator_family(estimator)
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    if family == "lightgbm" and not ({"verbose", "verbosity"} & params.keys()):
        params["verbose"] = -1  # LightGBM otherwise prints a line per warning
    if spec.class_weight:
        _apply_class_weight(estimator, params, kind=kind, family=family, where=where)
    try:
        estimator.set_params(**params)
        validate = getattr(estimator, "_validate_params", None)
        if callable(validate) and hasattr(estimator, "_parameter_constraints"):
            # scikit-learn checks parameter values only in fit; checking now
            # reports a bad value before any data is read.
            validate()
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{where}.params: {exc}") from exc
    if family == "xgboost" and kind == _C:
        from conveyor.train.labels import LabelEncodedClassifier

        return LabelEncodedClassifier(estimator)
    return estimator


def accepted_params(estimator: Any) -> tuple[list[str], frozenset[str]]:
    """The parameters ``estimator`` takes: ``(documented names, every accepted name)``.

    The documented names are ``get_params(deep=True)``; LightGBM and XGBoost
    also accept core parameters and aliases through ``**kwargs``.
    """
    listed = sorted(estimator.get_params(deep=True))
    extra: set[str] = set()
    family = estimator_family(estimator)
    if family == "lightgbm":
        extra |= _lightgbm_aliases()
    elif family == "xgboost":
        extra |= _XGB_CORE_PARAMS
    return listed, frozenset(listed) | extra


def check_param_names(estimator: Any, names: Iterable[str], *, where: str) -> None:
    """Raise if any of ``names`` (scikit-learn spelling) is not a parameter of ``estimator``.

    Raises:
        ModelError: ``"models[1].params: 'max_dept' is not a parameter of
            LGBMClassifier (did you mean 'max_depth'?)"``, listing valid names.
    """
    target = inner_estimator(estimator)
    listed, accepted = accepted_params(target)
    for name in names:
        if name in accepted:
            continue
        close = difflib.get_close_matches(name, listed, n=1) or difflib.get_close_matches(
            name, sorted(accepted), n=1
        )
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ModelError(
            f"{where}: '{name}' is not a parameter of {type(target).__name__}{hint}",
            hint=f"valid parameters: {', '.join(listed)}",
        )


def estimator_family(estimator: Any) -> str:
    """``lightgbm``, ``xgboost``, ``hist_gradient_boosting`` or ``other``.

    The boosted families get early stopping and a validation-loss curve.
    """
    target = inner_estimator(estimator)
    module = type(target).__module__
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("xgboost"):
        return "xgboost"
    if type(target).__name__.startswith("HistGradientBoosting"):
        return "hist_gradient_boosting"
    return "other"


def inner_estimator(estimator: Any) -> Any:
    """The estimator inside a :class:`LabelEncodedClassifier`, or ``estimator`` itself."""
    from conveyor.train.labels import LabelEncodedClassifier

    if isinstance(estimator, LabelEncodedClassifier):
        return estimator.estimator
    return estimator


def fit_time_weights(
    spec: ModelSpec, estimator: Any, y: Any, *, task: str
) -> tuple[dict[str, Any], np.ndarray | None]:
    """What ``class_weight: balanced`` needs once the training labels are known.

    Returns:
        ``(params, sample_weight)``: parameters to set on the inner estimator
        (XGBoost binary: ``scale_pos_weight`` = negatives / positives, unless
        the spec sets it) and balanced per-row weights for estimators without
        a ``class_weight`` parameter (XGBoost multiclass, others that take
        ``sample_weight``); ``({}, None)`` when nothing is needed.
    """
    if spec.class_weight != "balanced" or task_kind(task) == _R:
        return {}, None
    target = inner_estimator(estimator)
    if "class_weight" in target.get_params():
        return {}, None  # set by resolve_estimator
    y_arr = np.asarray(y, dtype=object)
    if estimator_family(target) == "xgboost" and task == "binary":
        if "scale_pos_weight" in spec.params:
            return {}, None
        labels, counts = np.unique(y_arr, return_counts=True)
        if len(labels) != 2:
            return {}, None
        # LabelEncodedClassifier encodes sorted labels, so labels[1] is class 1.
        return {"scale_pos_weight": float(counts[0]) / float(counts[1])}, None
    from sklearn.utils.class_weight import compute_sample_weight

    return {}, compute_sample_weight("balanced", y_arr)


# ---------------------------------------------------------------- helpers


def _examples(kind: str) -> str:
    names = [n for n, paths in SHORT_NAMES.items() if kind in paths]
    return ", ".join(f"'{n}'" for n in names[:4])


def _import_path(name: str, *, kind: str, where: str) -> str:
    if ":" in name:
        return name
    if name in SHORT_NAMES:
        paths = SHORT_NAMES[name]
        if kind not in paths:
            other = next(iter(paths))
            raise ModelError(
                f"{where}.estimator: '{name}' is for {other} only; a {kind} task needs "
                f"e.g. {_examples(kind)}"
            )
        return paths[kind]
    if "." in name:
        module, _, attr = name.rpartition(".")
        return f"{module}:{attr}"
    close = difflib.get_close_matches(name, list(SHORT_NAMES), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ModelError(
        f"{where}.estimator: unknown estimator '{name}'{hint}",
        hint=f"use a short name ({', '.join(SHORT_NAMES)}) or an import path 'package.module:Class'",
    )


def _import_class(path: str, *, kind: str, where: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ModelError(
            f"{where}.estimator: '{path}' is not an import path; expected 'package.module:Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        top = module_name.split(".")[0]
        raise ModelError(
            f"{where}.estimator: cannot import '{path}' ({exc})", hint=_EXTRA_HINTS.get(top)
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.5)
            if close:
                # Prefer the twin fitting the task: 'RandomForestClassifier'
                # rather than 'RandomForestRegressor' for a classification.
                want, other = (
                    ("Classifier", "Regressor") if kind == _C else ("Regressor", "Classifier")
                )
                twin = close[0].removesuffix(other) + want
                if close[0].endswith(other) and twin in names:
                    close = [twin]
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ModelError(
                f"{where}.estimator: cannot import '{path}' (module has no '{part}'{hint})"
            )
        obj = getattr(obj, part)
    return obj


def _instantiate(cls: Any, *, path: str, where: str) -> Any:
    if not inspect.isclass(cls):
        raise ModelError(
            f"{where}.estimator: '{path}' is a {type(cls).__name__}, not an estimator class"
        )
    missing = [m for m in ("fit", "predict", "get_params", "set_params") if not hasattr(cls, m)]
    if missing:
        raise ModelError(
            f"{where}.estimator: '{path}' is not a scikit-learn compatible estimator "
            f"(it has no {', '.join(missing)})",
            hint="an estimator needs fit, predict, get_params and set_params",
        )
    try:
        return cls()
    except TypeError as exc:
        raise ModelError(
            f"{where}.estimator: cannot create '{path}' without arguments ({exc}); "
            "scikit-learn estimators take every argument as an optional keyword"
        ) from exc


def _apply_class_weight(
    estimator: Any, params: dict[str, Any], *, kind: str, family: str, where: str
) -> None:
    from sklearn.utils.validation import has_fit_parameter

    name = type(estimator).__name__
    if kind == _R:
        raise ModelError(
            f"{where}.class_weight: only applies to classification; remove it for a regression task"
        )
    if family == "xgboost":
        return  # scale_pos_weight / sample weights at fit time
    if "class_weight" in estimator.get_params():
        params.setdefault("class_weight", "balanced")
        return
    if not has_fit_parameter(estimator, "sample_weight"):
        raise ModelError(
            f"{where}.class_weight: {name} takes neither class_weight nor sample_weight; "
            "remove class_weight or pick another estimator"
        )


def _lightgbm_aliases() -> set[str]:
    try:
        from lightgbm.basic import _ConfigAliases

        # Private but stable since LightGBM 3: every core parameter and alias.
        return {
            alias for names in _ConfigAliases._get_all_param_aliases().values() for alias in names
        }
    except Exception:  # older/newer LightGBM: fall back to get_params() only
        return set()
