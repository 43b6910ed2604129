"""Reading reference.json for drift: format 2, format 1 (older bundles), and refusals."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import polars as pl
import pytest

from conveyor.bundle import bin_counts, build_reference
from conveyor.errors import ModelError
from conveyor.monitor import drift_from_reference
from conveyor.monitor._drift_reference import read_reference


def _format_1(x: np.ndarray, cats: list[str], labels: list[str]) -> dict[str, Any]:
    """A reference.json as Conveyor wrote it before format 2 (quantile bins and a sample)."""
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, 21)))
    counts = Counter(cats)
    return {
        "format_version": 1,
        "n_rows": len(x),
        "seed": 0,
        "features": {
            "x": {
                "kind": "numeric", "count": len(x), "missing_rate": 0.0,
                "mean": float(x.mean()), "std": float(x.std(ddof=1)),
                "min": float(x.min()), "max": float(x.max()),
                "bin_edges": edges.tolist(), "bin_counts": bin_counts(x, edges),
                "sample": np.sort(np.random.default_rng(0).choice(x, 2000, replace=False)).tolist(),
            },
            "plan": {
                "kind": "categorical", "count": len(cats), "missing_rate": 0.0,
                "n_categories": len(counts), "counts": {**dict(counts.most_common()), "__other__": 0},
            },
        },
        "prediction": {"kind": "classes", "count": len(labels), "counts": dict(Counter(labels))},
    }  # fmt: skip


@pytest.fixture
def data() -> tuple[np.ndarray, list[str], list[str]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=6000)
    cats = rng.choice(["a", "b", "c"], 6000, p=[0.5, 0.3, 0.2]).tolist()
    labels = rng.choice(["No", "Yes"], 6000, p=[0.7, 0.3]).tolist()
    return x, cats, labels


def test_format_1_files_still_give_the_same_verdicts(data: Any) -> None:
    x, cats, labels = data
    old = _format_1(x, cats, labels)
    new = build_reference(
        pl.DataFrame({"x": x, "plan": cats}), labels, numeric=["x"], categorical=["plan"], seed=0
    )
    rng = np.random.default_rng(1)
    for shift, n in ((0.0, 3000), (0.5, 3000), (0.0, 300), (0.5, 300)):
        cur = pl.DataFrame(
            {"x": rng.normal(shift, 1.0, n), "plan": rng.choice(["a", "b", "c"], n).tolist(),
             "prediction": rng.choice(["No", "Yes"], n, p=[0.7, 0.3]).tolist()}
        )  # fmt: skip
        a = drift_from_reference(old, cur, prediction_column="prediction")
        b = drift_from_reference(new, cur, prediction_column="prediction")
        assert [c.drifted for c in a.columns] == [c.drifted for c in b.columns], (shift, n)
        assert a.columns[0].drifted == (shift > 0)
        assert a.columns[1].drifted and b.columns[1].drifted  # uniform mix versus 50/30/20
        assert a.prediction is not None and not a.prediction.drifted
        assert a.columns[0].statistic == pytest.approx(b.columns[0].statistic, abs=0.06)


def test_format_1_prediction_values_are_read_from_the_sample() -> None:
    ref = {
        "format_version": 1,
        "features": {},
        "prediction": {"kind": "values", "count": 500, "quantiles": [0.0, 1.0], "mean": 0.5,
                       "std": 0.3, "sample": np.linspace(0, 1, 500).tolist()},
    }  # fmt: skip
    parsed = read_reference(ref)
    assert parsed.prediction is not None and parsed.prediction.fine_n == 500


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("format_version"), r"has no format_version: .* format_version 1 and 2"),
        (lambda r: r.update(format_version=0), r"format_version 0, from an older bundle format"),
        (lambda r: r.update(format_version=9), r"format_version 9, newer than this Conveyor"),
        (lambda r: r.update(format_version="2"), r"format_version must be an integer"),
        (lambda r: r.update(features=[]), r"'features' must be an object"),
        (lambda r: r["features"]["x"].pop("fine_edges"), r"features\.x: missing 'fine_edges'"),
        (lambda r: r["features"]["x"].update(kind="text"), r"features\.x: kind 'text'"),
        (lambda r: r["features"]["x"]["fine_counts"].pop(), r"features\.x: .* fine_counts for"),
        (lambda r: r["features"]["plan"].update(counts=[1]), r"features\.plan: 'counts' must map"),
    ],
)
def test_bad_reference_files_are_refused_precisely(data: Any, mutate: Any, message: str) -> None:
    x, cats, labels = data
    ref = build_reference(
        pl.DataFrame({"x": x, "plan": cats}), labels, numeric=["x"], categorical=["plan"], seed=0
    )
    mutate(ref)
    with pytest.raises(ModelError, match=message) as info:
        drift_from_reference(ref, pl.DataFrame({"x": [1.0], "plan": ["a"]}))
    if "format_version" in message and "newer" not in message:
        assert "retrain" in (info.value.hint or "")


def test_not_a_reference_at_all() -> None:
    with pytest.raises(ModelError, match=r"expected reference statistics .* got list"):
        read_reference([1, 2, 3])
