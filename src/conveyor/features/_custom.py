"""User transformers, loaded by import path ``package.module:Class`` and checked against the contract."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from conveyor.config.models import UserTransformer
from conveyor.errors import ConfigError
from conveyor.features._suggest import did_you_mean

__all__ = ["import_object", "load_user_transformer"]

_CONTRACT_HINT = (
    "a transformer subclasses sklearn.base.BaseEstimator and TransformerMixin, stores its "
    "keyword arguments unchanged in __init__, and has fit(X, y=None) and transform(X)"
)


def import_object(path: str, *, key: str) -> Any:
    """The object at ``package.module:Name`` (a dotted ``package.module.Name`` also works).

    Raises:
        ConfigError: naming ``key`` when the module cannot be imported or lacks the name.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ConfigError(f"{key}: {path!r} is not an import path; expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{key}: cannot import module '{module_name}' for {path!r}: {exc}",
            hint="check the spelling, that the package is installed, and that its folder is on PYTHONPATH",
        ) from exc
    except Exception as exc:  # the user's module may fail in any way while it runs
        raise ConfigError(
            f"{key}: importing '{module_name}' failed: {type(exc).__name__}: {exc}"
        ) from exc
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(
                f"{key}: module '{module_name}' has no attribute '{attribute}'{did_you_mean(part, names)}"
            )
        obj = getattr(obj, part)
    return obj


def load_user_transformer(spec: UserTransformer, *, index: int, columns: Sequence[str]) -> Any:
    """Instantiate and check the transformer that ``features.custom[index]`` names.

    Raises:
        ConfigError: the path does not import, the object is not a class that makes
            a scikit-learn transformer, the parameters are refused, the instance
            cannot be cloned, or a listed column does not exist.
    """
    from sklearn.base import clone

    key = f"features.custom[{index}]"
    cls = import_object(spec.transformer, key=f"{key}.transformer")
    if not isinstance(cls, type):
        raise ConfigError(
            f"{key}.transformer: {spec.transformer!r} is a {type(cls).__name__}, not a class",
            hint=_CONTRACT_HINT,
        )
    missing = [
        m
        for m in ("fit", "transform", "get_params", "set_params")
        if not callable(getattr(cls, m, None))
    ]
    if missing:
        raise ConfigError(
            f"{key}.transformer: {spec.transformer!r} is not a scikit-learn transformer "
            f"(no {', '.join(missing)} method)",
            hint=_CONTRACT_HINT,
        )
    try:
        transformer = cls(**spec.params)
    except TypeError as exc:
        raise ConfigError(
            f"{key}.params: {spec.transformer!r} refused the parameters: {exc}"
        ) from exc
    try:
        params = transformer.get_params(deep=False)
    except Exception as exc:  # user code: any failure is a breach of the contract
        raise ConfigError(
            f"{key}.transformer: {spec.transformer!r} does not follow the scikit-learn estimator contract: {exc}",
            hint=_CONTRACT_HINT,
        ) from exc
    changed = [
        name
        for name, value in spec.params.items()
        if name not in params or params[name] is not value
    ]
    if changed:
        raise ConfigError(
            f"{key}.params: {spec.transformer!r} does not store {', '.join(map(repr, changed))} unchanged "
            f"in __init__, so it cannot be cloned for tuning or refitting",
            hint=_CONTRACT_HINT,
        )
    try:
        clone(transformer)
    except Exception as exc:  # user code: any failure is a breach of the contract
        raise ConfigError(
            f"{key}.transformer: {spec.transformer!r} cannot be cloned: {exc}", hint=_CONTRACT_HINT
        ) from exc
    if not spec.columns:
        raise ConfigError(f"{key}.columns: list at least one column")
    for j, column in enumerate(spec.columns):
        if column not in columns:
            raise ConfigError(
                f"{key}.columns[{j}]: there is no column '{column}'{did_you_mean(column, columns)}"
            )
    return transformer
