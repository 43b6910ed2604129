"""The types a bundle must trust to load a Conveyor preprocessor with skops."""

from __future__ import annotations

__all__ = ["TRUSTED_TYPES"]

#: Conveyor's own transformers, safe to pass to ``skops.io.loads(..., trusted=...)``:
#: they hold only strings, numbers, dicts and numpy arrays and run no code on load.
TRUSTED_TYPES: tuple[str, ...] = (
    "conveyor.features._datetime.DatetimeParts",
    "conveyor.features._derived.DerivedFeatures",
    "conveyor.features._transformers.CategoryStrings",
    "conveyor.features._transformers.HashingEncoder",
    "conveyor.features._transformers.Log1pClipped",
    "conveyor.features._transformers.TextColumn",
    "conveyor.features._transformers.ToFloat",
)
