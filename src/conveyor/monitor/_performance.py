"""Live performance: the evaluation metrics on logged predictions that received feedback.

Every figure carries the number of labelled predictions behind it; with fewer
than ``monitor.min_labels`` the figure is left empty (``None`` in the snapshot)
with a note, because a metric on a handful of rows misleads. Figures are given
overall (predictions served to callers: shadow rows excluded), per version
(shadow rows included: they are that version's answers), per slice of the
``monitor.slices`` columns, and over time in buckets of the window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl

from conveyor.errors import ConfigError
from conveyor.evaluate.metrics import compute_metrics

__all__ = ["REPORTED_METRICS", "ScoringSpec", "bucket_edges", "live_performance"]

REPORTED_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("rmse", "mae"),
}
MISSING_SLICE = "(missing)"
_PROBA_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
_MAX_SLICES = 20
_MAX_DISTINCT_AS_CATEGORY = 4


@dataclass(frozen=True)
class ScoringSpec:
    """How predictions of one model version are scored.

    Attributes:
        task: binary, multiclass or regression.
        classes: the classes as text, in the order of the logged probabilities.
        positive_class: the positive class as text (binary).
        min_labels: fewest labelled predictions behind a figure.
    """

    task: str
    classes: list[str] | None
    positive_class: str | None
    min_labels: int


def bucket_edges(start: datetime, end: datetime) -> list[datetime]:
    """Edges of the over-time buckets: hours up to 2 days, days up to 60 days, else weeks."""
    span = end - start
    if span <= timedelta(days=2):
        step = timedelta(hours=1)
    elif span <= timedelta(days=60):
        step = timedelta(days=1)
    else:
        step = timedelta(weeks=1)
    edges = [start]
    while edges[-1] + step < end:
        edges.append(edges[-1] + step)
    edges.append(end)
    return edges


def _proba_columns(spec: ScoringSpec) -> list[str]:
    return [f"__proba_{i}" for i in range(len(spec.classes or []))]


def _coded(frame: pl.DataFrame, spec: ScoringSpec) -> tuple[pl.DataFrame, list[str]]:
    """Add integer class codes (``__y``, ``__pred``) and one float column per class probability.

    Metrics are computed on codes: hashing a million integers is ~10x faster than
    matching a million strings. Predictions outside the classes (a fallback's
    constant, say) get codes after the classes. Returns the frame and the label
    of every code, to name classes in the notes.
    """
    classes = list(spec.classes or [])
    seen = frame["prediction"].cast(pl.String).fill_null("(none)")
    extra = sorted(set(seen.unique().to_list()) - set(classes))
    labels = classes + extra
    codes = {label: i for i, label in enumerate(labels)}
    frame = frame.with_columns(
        pl.col("label").replace_strict(codes, return_dtype=pl.Int64).alias("__y"),
        seen.replace_strict(codes, return_dtype=pl.Int64).alias("__pred"),
    )
    names = _proba_columns(spec)
    if "probabilities" in frame.columns and names:
        struct = pl.Struct({c: pl.Float64 for c in classes})
        decoded = frame.select(
            pl.col("probabilities").str.json_decode(struct).struct.unnest()
        ).rename(dict(zip(classes, names, strict=True)))
        frame = frame.with_columns(decoded)
    return frame, labels


_CODE = re.compile(r"'(not )?(\d+)'")


def _named(notes: list[str], labels: list[str]) -> list[str]:
    """Notes of :func:`compute_metrics` name classes by code; put the labels back."""

    def name(match: re.Match[str]) -> str:
        code = int(match.group(2))
        label = labels[code] if code < len(labels) else match.group(2)
        return repr(f"{match.group(1) or ''}{label}")

    return [_CODE.sub(name, note) for note in notes]


def _classification(frame: pl.DataFrame, spec: ScoringSpec, labels: list[str]) -> dict[str, Any]:
    n = frame.height
    classes = list(range(len(spec.classes or [])))
    positive = None
    if spec.positive_class is not None and spec.positive_class in (spec.classes or []):
        positive = (spec.classes or []).index(spec.positive_class)
    kwargs = {"classes": classes, "positive_class": positive}
    y, pred = frame["__y"].to_numpy(), frame["__pred"].to_numpy()
    names = _proba_columns(spec)
    if names and names[0] in frame.columns:
        have = frame.select(pl.all_horizontal([pl.col(c).is_not_null() for c in names]))
        have = have.to_series()
    else:
        have = pl.Series([False] * n, dtype=pl.Boolean)
    with_proba = int(have.sum())
    if with_proba == n:
        proba = frame.select(names).to_numpy()
        scores = compute_metrics(spec.task, y, y_pred=pred, y_proba=proba, **kwargs)
        return _figure(n, scores, _named(scores.notes, labels))
    scores = compute_metrics(spec.task, y, y_pred=pred, **kwargs)
    notes = [n for n in scores.notes if not n.startswith(", ".join(_PROBA_METRICS))]
    if with_proba >= spec.min_labels:
        part = frame.filter(have)
        extra = compute_metrics(
            spec.task,
            part["__y"].to_numpy(),
            y_pred=part["__pred"].to_numpy(),
            y_proba=part.select(names).to_numpy(),
            **kwargs,
        )
        scores.update({k: v for k, v in extra.items() if k in _PROBA_METRICS})
        notes.append(
            f"{', '.join(_PROBA_METRICS)}: on the {with_proba} of {n} labelled predictions "
            "that carry probabilities (fallback answers carry none)"
        )
    else:
        notes.append(
            f"{', '.join(_PROBA_METRICS)}: not computed ({with_proba} labelled prediction(s) "
            f"carry probabilities, fewer than monitor.min_labels ({spec.min_labels}))"
        )
    return _figure(n, scores, _named(notes, labels))


def _score(frame: pl.DataFrame, spec: ScoringSpec, labels: list[str]) -> dict[str, Any]:
    n = frame.height
    if n < spec.min_labels:
        return {
            "labels": n,
            "metrics": {},
            "notes": [
                f"{n} labelled prediction(s): fewer than monitor.min_labels ({spec.min_labels})"
            ],
        }
    if spec.task != "regression":
        return _classification(frame, spec, labels)
    scores = compute_metrics(
        "regression",
        frame["label"].to_numpy(),
        y_pred=frame["prediction"].cast(pl.Float64, strict=False).to_numpy(),
    )
    return _figure(n, scores, scores.notes)


def _figure(n: int, scores: dict[str, float], notes: Sequence[str]) -> dict[str, Any]:
    metrics = {k: float(v) for k, v in scores.items() if math.isfinite(float(v))}
    return {"labels": n, "metrics": metrics, "notes": list(notes)}


def _slice_groups(frame: pl.DataFrame, column: str) -> list[tuple[str, pl.Series]]:
    series = frame[column]
    missing = series.is_null()
    present = series.filter(~missing)
    groups: list[tuple[str, pl.Series]] = []
    numeric = series.dtype.is_numeric()
    if numeric and present.n_unique() > _MAX_DISTINCT_AS_CATEGORY:
        values = present.cast(pl.Float64).to_numpy()
        edges = np.unique(np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0]))
        as_float = series.cast(pl.Float64)
        for k in range(len(edges) - 1):
            low, high = float(edges[k]), float(edges[k + 1])
            lower = as_float >= low if k == 0 else as_float > low
            mask = (lower & (as_float <= high)).fill_null(False)
            groups.append((f"{'[' if k == 0 else '('}{low:.4g}, {high:.4g}]", mask))
    else:
        text = series.cast(pl.String)
        counts = text.filter(~missing).value_counts(sort=True).head(_MAX_SLICES)
        for value in counts[counts.columns[0]].to_list():
            groups.append((str(value), (text == value).fill_null(False)))
    if int(missing.sum()):
        groups.append((MISSING_SLICE, missing))
    return groups


def live_performance(
    labelled: pl.DataFrame,
    spec: ScoringSpec,
    *,
    slices: Mapping[str, str] | None = None,
    edges: Sequence[datetime] = (),
    invalid: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Performance figures from the labelled rows of a window.

    Args:
        labelled: rows with a usable ``label``; columns ``version``, ``ts``,
            ``status``, ``prediction``, ``probabilities`` (classifiers) and the
            slice columns.
        spec: how to score.
        slices: slice name -> the column of ``labelled`` holding it, to break the
            overall figure down by.
        edges: bucket edges for the figures over time.
        invalid: what :class:`~conveyor.monitor._labels.LabelCheck` counted as invalid.

    Raises:
        ConfigError: a slice column is not in ``labelled``.
    """
    slices = dict(slices or {})
    missing = [name for name, column in slices.items() if column not in labelled.columns]
    if missing:
        raise ConfigError(
            f"monitor.slices: {', '.join(map(repr, missing))} not in the labelled predictions "
            f"(columns: {', '.join(labelled.columns)})"
        )
    frame, labels = (labelled, []) if spec.task == "regression" else _coded(labelled, spec)
    served = frame.filter(pl.col("status") != "shadow")
    out: dict[str, Any] = {
        "task": spec.task,
        "min_labels": spec.min_labels,
        "labelled": served.height,
        "invalid_labels": invalid or {"count": 0, "reason": "", "examples": []},
        "overall": _score(served, spec, labels),
        "versions": {},
        "slices": {},
        "over_time": [],
    }
    for (version,), part in sorted(frame.group_by("version"), key=lambda kv: kv[0][0]):
        same = part.height == served.height == frame.height  # one version, no shadow rows
        out["versions"][str(version)] = dict(out["overall"]) if same else _score(part, spec, labels)
    for name, column in slices.items():
        out["slices"][name] = [
            {"value": value, **_score(served.filter(mask), spec, labels)}
            for value, mask in _slice_groups(served, column)
        ]
    for lo, hi in pairwise(edges):
        part = served.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))
        out["over_time"].append(
            {"start": lo.isoformat(), "end": hi.isoformat(), **_score(part, spec, labels)}
        )
    return out
