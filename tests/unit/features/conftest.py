"""Fixtures for the features tests: the real churn data and tiny hand-made frames."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest


@pytest.fixture(scope="session")
def churn_frame(churn_csv: Path) -> pl.DataFrame:
    """The Telco churn data as read after cleaning (empty cells are missing)."""
    return pl.read_csv(churn_csv, null_values=["", "NA"])


@pytest.fixture
def small_frame() -> pl.DataFrame:
    """30 rows with one column of every kind, a target, and a few missing values."""
    n = 30
    return pl.DataFrame(
        {
            "amount": [float(i) * 1.5 if i % 7 else None for i in range(n)],
            "count": [i % 5 for i in range(n)],
            "flag": [i % 2 == 0 for i in range(n)],
            "colour": [["red", "green", "blue", None][i % 4] for i in range(n)],
            "note": [
                f"customer {i} wrote a fairly long comment about the service number {i * 7}"
                for i in range(n)
            ],
            "signup": [f"2021-{(i % 12) + 1:02d}-{(i % 28) + 1:02d}" for i in range(n)],
            "row_id": list(range(n)),
            "code": [f"C{i:04d}" for i in range(n)],
            "constant": ["same"] * n,
            "empty": pl.Series([None] * n, dtype=pl.Float64),
            "target": [i % 3 == 0 for i in range(n)],
        }
    )
