"""The types a bundle must trust to load a Conveyor preprocessor with skops."""

from __future__ import annotations

__all__ = ["TRUSTED_TYPES"]

#: Every type a preprocessor from :func:`build_preprocessor` holds that skops
#: does not trust by default; all are plain data (strings, numbers, dicts,
#: numpy arrays) and run no code on load. Pass them as
#: ``skops.io.loads(data, trusted=[*TRUSTED_TYPES, ...])``; user transformers
#: from ``features.custom`` are not included and must be trusted explicitly.
#: (Where skops was imported through :func:`conveyor.bundle._serialize.skops_io`,
#: scikit-learn estimators are not trusted by default either: pass them too.)
TRUSTED_TYPES: tuple[str, ...] = (
    "conveyor.features._datetime.DatetimeParts",
    "conveyor.features._derived.DerivedFeatures",
    "conveyor.features._transformers.CategoryStrings",
    "conveyor.features._transformers.HashingEncoder",
    "conveyor.features._transformers.Log1pClipped",
    "conveyor.features._transformers.TextColumn",
    "conveyor.features._transformers.ToFloat",
    "numpy.dtype",  # dtype parameters (OneHotEncoder, TfidfVectorizer)
    "sklearn.model_selection._split.KFold",  # TargetEncoder folds (regression)
    "sklearn.model_selection._split.StratifiedKFold",  # TargetEncoder folds (classification)
)
