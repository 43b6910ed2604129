"""Read ``reference.json`` (format 1 or 2) into the arrays the drift statistics use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from conveyor.bundle._reference import (
    OTHER_CATEGORY,
    READABLE_REFERENCE_VERSIONS,
    REFERENCE_FORMAT_VERSION,
    numeric_stats,
)
from conveyor.errors import ModelError

_HINT = (
    "re-register the model with this Conveyor: retrain it (conveyor run) so its bundle "
    "gets a current reference.json"
)


@dataclass(frozen=True)
class NumericReference:
    """A numeric column of the reference: coarse bins, fine CDF cells, a sample."""

    count: int
    missing: int
    std: float
    bin_edges: np.ndarray
    bin_counts: np.ndarray
    fine_edges: np.ndarray
    fine_counts: np.ndarray
    sample: np.ndarray

    @property
    def fine_n(self) -> int:
        """Rows behind the fine cells (all rows, or the sample for a format-1 file)."""
        return int(self.fine_counts.sum())


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical column of the reference: counts per kept category (``__other__`` last)."""

    count: int
    missing: int
    categories: list[str]
    counts: np.ndarray


ColumnReference = NumericReference | CategoricalReference


@dataclass(frozen=True)
class Reference:
    """A parsed ``reference.json``."""

    format_version: int
    features: dict[str, ColumnReference]
    prediction: ColumnReference | None


def read_reference(data: Any, *, where: str = "reference.json") -> Reference:
    """Validate a parsed ``reference.json`` and turn it into arrays.

    Raises:
        ModelError: the file is not reference statistics, its ``format_version``
            is not one this Conveyor reads, or a feature lacks a required field
            (the message names the file, the feature and the field).
    """
    if not isinstance(data, dict):
        raise ModelError(
            f"{where}: expected reference statistics (a JSON object with 'format_version' "
            f"and 'features'), got {type(data).__name__}"
        )
    supported = " and ".join(str(v) for v in READABLE_REFERENCE_VERSIONS)
    version = data.get("format_version")
    if version is None:
        raise ModelError(
            f"{where} has no format_version: it was written by a Conveyor older than "
            f"reference format 1; this Conveyor reads reference format_version {supported}",
            hint=_HINT,
        )
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{where}: format_version must be an integer, got {version!r}", hint=_HINT)
    if version > REFERENCE_FORMAT_VERSION:
        raise ModelError(
            f"{where} has format_version {version}, newer than this Conveyor reads ({supported})",
            hint="upgrade Conveyor to the version that wrote the bundle",
        )
    if version not in READABLE_REFERENCE_VERSIONS:
        raise ModelError(
            f"{where} has format_version {version}, from an older bundle format; this Conveyor "
            f"reads reference format_version {supported}",
            hint=_HINT,
        )
    features = data.get("features")
    if not isinstance(features, dict):
        raise ModelError(f"{where}: 'features' must be an object of column statistics", hint=_HINT)
    parsed = {
        str(name): _column(stats, f"{where}: features.{name}", version)
        for name, stats in features.items()
    }
    prediction = data.get("prediction")
    return Reference(
        format_version=version,
        features=parsed,
        prediction=None if prediction is None else _prediction(prediction, where, version),
    )


def _require(stats: Any, keys: tuple[str, ...], where: str, version: int) -> None:
    if not isinstance(stats, dict):
        raise ModelError(f"{where}: expected an object of statistics, got {type(stats).__name__}")
    absent = [k for k in keys if k not in stats]
    if absent:
        raise ModelError(
            f"{where}: missing {', '.join(repr(k) for k in absent)} "
            f"(required in reference format_version {version})",
            hint=_HINT,
        )


def _column(stats: Any, where: str, version: int) -> ColumnReference:
    _require(stats, ("kind",), where, version)
    kind = stats["kind"]
    if kind == "numeric":
        return _numeric(stats, where, version)
    if kind == "categorical":
        _require(stats, ("count", "missing_rate", "counts"), where, version)
        return _categorical(stats["counts"], stats, where, version)
    raise ModelError(f"{where}: kind {kind!r} is not 'numeric' or 'categorical'", hint=_HINT)


def _missing(stats: dict[str, Any]) -> int:
    if "missing" in stats:
        return int(stats["missing"])
    rate, count = float(stats.get("missing_rate") or 0.0), int(stats["count"])
    return round(count * rate / (1.0 - rate)) if rate < 1.0 else 0  # format 1


def _numeric(stats: dict[str, Any], where: str, version: int) -> NumericReference:
    keys = ("count", "missing_rate", "std", "bin_edges", "bin_counts", "sample")
    _require(
        stats,
        keys + (("missing", "fine_edges", "fine_counts") if version >= 2 else ()),
        where,
        version,
    )
    sample = np.asarray(stats["sample"], dtype=np.float64)
    if version >= 2:
        fine_edges = np.asarray(stats["fine_edges"], dtype=np.float64)
        fine_counts = np.asarray(stats["fine_counts"], dtype=np.float64)
    else:  # format 1 kept no CDF cells: derive them from the value sample
        derived = numeric_stats(sample, np.random.default_rng(0))
        fine_edges = np.asarray(derived["fine_edges"], dtype=np.float64)
        fine_counts = np.asarray(derived["fine_counts"], dtype=np.float64)
    bin_edges = np.asarray(stats["bin_edges"], dtype=np.float64)
    bin_counts = np.asarray(stats["bin_counts"], dtype=np.float64)
    if len(fine_edges) and len(fine_counts) != len(fine_edges) - 1:
        raise ModelError(
            f"{where}: {len(fine_counts)} fine_counts for {len(fine_edges)} fine_edges "
            "(expected one fewer count than edges)",
            hint=_HINT,
        )
    if len(bin_edges) and len(bin_counts) != max(len(bin_edges) - 1, 1):
        raise ModelError(
            f"{where}: {len(bin_counts)} bin_counts for {len(bin_edges)} bin_edges", hint=_HINT
        )
    return NumericReference(
        count=int(stats["count"]),
        missing=_missing(stats),
        std=float(stats["std"] or 0.0),
        bin_edges=bin_edges,
        bin_counts=bin_counts,
        fine_edges=fine_edges,
        fine_counts=fine_counts,
        sample=sample,
    )


def _categorical(
    counts: Any, stats: dict[str, Any], where: str, version: int
) -> CategoricalReference:
    if not isinstance(counts, dict):
        raise ModelError(f"{where}: 'counts' must map categories to counts", hint=_HINT)
    kept = {str(k): int(v) for k, v in counts.items() if k != OTHER_CATEGORY}
    other = int(counts.get(OTHER_CATEGORY, 0))
    return CategoricalReference(
        count=int(stats.get("count", sum(kept.values()) + other)),
        missing=_missing(stats) if "count" in stats else 0,
        categories=[*kept, OTHER_CATEGORY],
        counts=np.array([*kept.values(), other], dtype=np.float64),
    )


def _prediction(stats: Any, where: str, version: int) -> ColumnReference:
    where = f"{where}: prediction"
    _require(stats, ("kind",), where, version)
    if stats["kind"] == "classes":
        _require(stats, ("counts",), where, version)
        return _categorical(stats["counts"], stats, where, version)
    if stats["kind"] != "values":
        raise ModelError(
            f"{where}: kind {stats['kind']!r} is not 'classes' or 'values'", hint=_HINT
        )
    if version >= 2:
        return _numeric(stats, where, version)
    _require(stats, ("sample",), where, version)  # format 1: 21 quantiles and a sample
    derived = numeric_stats(np.asarray(stats["sample"], dtype=np.float64), np.random.default_rng(0))
    return _numeric(derived, where, 2)
