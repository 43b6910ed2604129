"""Chunk validation and scoring of batch scoring, with a stub model (no training)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from conveyor.bundle import InputField, OutputField, Signature
from conveyor.serve.batch import _process

SIG = Signature(
    task="binary",
    target="y",
    inputs=[
        InputField(name="age", type="integer", kind="numeric", nullable=False, dtype="int64"),
        InputField(name="score", type="number", kind="numeric", nullable=True, dtype="float64"),
        InputField(
            name="plan", type="string", kind="categorical", categories=["a", "b"], dtype="object"
        ),
    ],
    outputs=[OutputField(name="label", type="string")],
    classes=["no", "yes"],
    positive_class="yes",
    threshold=0.5,
)


@dataclass
class StubBundle:
    signature: Signature = SIG

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = (frame["age"].to_numpy() > 30).astype(float)
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.where(self.predict_proba(frame)[:, 1] >= 0.5, "yes", "no")


def test_rows_are_split_into_scored_and_rejected_with_reasons() -> None:
    chunk = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "age": ["40", None, "x", "20", "2.5", "50"],
            "score": ["1.5", "2", "3", "NaN", None, "oops"],
            "plan": ["a", "b", "a", "c", "a", "b"],
        }
    )
    good, bad = _process(3, chunk, StubBundle(), SIG.validator(), 10)
    assert good["id"].to_list() == [1]
    assert good["prediction"].to_list() == ["yes"] and good["proba_yes"].to_list() == [1.0]
    assert good.schema["age"] == pl.Int64 and good.schema["score"] == pl.Float64
    reasons = dict(zip(bad["__row"].to_list(), bad["__reason"].to_list()))
    assert set(reasons) == {31, 32, 33, 34, 35}  # chunk 3 of 10 rows starts at row 30
    assert "'age' is null but is required" in reasons[31]
    assert "'age': expected integer, got 'x'" in reasons[32]
    assert "nan is not allowed" in reasons[33] and "unknown category 'c'" in reasons[33]
    assert "'age': expected integer, got '2.5'" in reasons[34]
    assert "'score': expected number, got 'oops'" in reasons[35]
    assert bad.filter(pl.col("__row") == 32)["age"].item() == "x"


def test_all_rows_rejected_gives_an_empty_part_with_the_output_columns() -> None:
    chunk = pl.DataFrame({"age": ["x"], "score": [1.0], "plan": ["a"]})
    good, bad = _process(0, chunk, StubBundle(), SIG.validator(), 10)
    assert good.height == 0 and bad.height == 1
    assert {"prediction", "proba_no", "proba_yes"} <= set(good.columns)
