"""Rows of the prediction log: checking what callers append and building segment frames."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import polars as pl

from conveyor.errors import DataError

__all__ = ["EMPTY_SCHEMA", "FIXED_COLUMNS", "NAME", "check_row", "to_frame"]

FIXED_COLUMNS = (
    "prediction_id",
    "model",
    "version",
    "ts",
    "prediction",
    "probabilities",
    "latency_ms",
    "fallback",
    "status",
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

EMPTY_SCHEMA = {
    "prediction_id": pl.String,
    "model": pl.String,
    "version": pl.Int64,
    "ts": pl.Datetime("us", "UTC"),
    "prediction": pl.String,
    "probabilities": pl.String,
    "latency_ms": pl.Float64,
    "fallback": pl.Boolean,
    "status": pl.String,
}


def check_row(index: int, row: dict) -> None:
    where = f"prediction log row {index}"
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a dict, got {type(row).__name__}")
    expected = {"prediction_id": str, "model": str, "version": int, "ts": datetime}
    for key, kind in expected.items():
        value = row.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DataError(f"{where}: {key!r} must be {kind.__name__}, got {type(value).__name__}")
    if not NAME.match(row["model"]):
        raise DataError(
            f"{where}: model name {row['model']!r} is not a valid name "
            "(letters, digits, '.', '_', '-'; starting with a letter or digit)"
        )
    if row["ts"].tzinfo is None:
        raise DataError(f"{where}: 'ts' is naive; pass a timezone-aware (UTC) datetime")
    inputs = row.get("inputs", {})
    if not isinstance(inputs, dict):
        raise DataError(f"{where}: 'inputs' must be a dict, got {type(inputs).__name__}")


def to_frame(rows: list[dict]) -> pl.DataFrame:
    fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row.get("inputs") or {}))
    predictions = [row.get("prediction") for row in rows]
    columns: dict[str, pl.Series] = {
        "prediction_id": pl.Series([r["prediction_id"] for r in rows], dtype=pl.String),
        "model": pl.Series([r["model"] for r in rows], dtype=pl.String),
        "version": pl.Series([int(r["version"]) for r in rows], dtype=pl.Int64),
        "ts": pl.Series([r["ts"].astimezone(UTC) for r in rows], dtype=pl.Datetime("us", "UTC")),
    }
    for field in fields:
        name = f"input_{field}" if field in FIXED_COLUMNS else field
        columns[name] = _column(name, [(r.get("inputs") or {}).get(field) for r in rows])
    columns["prediction"] = _prediction_column(predictions)
    columns["probabilities"] = pl.Series(
        [None if r.get("probabilities") is None else json.dumps(r["probabilities"]) for r in rows],
        dtype=pl.String,
    )
    columns["latency_ms"] = pl.Series(
        [None if r.get("latency_ms") is None else float(r["latency_ms"]) for r in rows],
        dtype=pl.Float64,
    )
    columns["fallback"] = pl.Series([bool(r.get("fallback", False)) for r in rows])
    columns["status"] = pl.Series([str(r.get("status", "ok")) for r in rows], dtype=pl.String)
    return pl.DataFrame([s.alias(name) for name, s in columns.items()])


def _column(name: str, values: list[Any]) -> pl.Series:
    """One input column; values of mixed or nested types are kept as text rather than lost."""
    if any(isinstance(v, dict | list | tuple) for v in values):
        return pl.Series(name, [None if v is None else json.dumps(v) for v in values], pl.String)
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, pl.exceptions.PolarsError, OverflowError):
        return pl.Series(name, [None if v is None else str(v) for v in values], pl.String)


def _prediction_column(values: list[Any]) -> pl.Series:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, float) for v in present):
        return pl.Series("prediction", values, dtype=pl.Float64)
    return pl.Series("prediction", [None if v is None else str(v) for v in values], pl.String)
