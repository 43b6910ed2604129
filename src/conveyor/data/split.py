"""Split a frame into train, validation and test parts.

Methods: ``random``; ``stratified`` (each class keeps its share in every
part); ``time`` (train is the earliest rows, test the latest, no timestamp in
two parts); ``group`` (all rows of a group land in one part).

Randomness comes only from ``numpy.random.Generator(PCG64(seed))``
permutations over the row order (or over the sorted group values), never from
hashing or set order, so a seed gives the same split on every run and machine.
Part sizes come from largest-remainder rounding: each part is within one row
of its ratio (per class for ``stratified``).

Example:
    >>> import polars as pl
    >>> from conveyor.config.models import SplitConfig
    >>> frame = pl.DataFrame({"y": [0, 1] * 50, "x": range(100)})
    >>> parts = split_frame(frame, SplitConfig(), target="y", task="binary", seed=7)
    >>> (parts.train.height, parts.validation.height, parts.test.height)
    (70, 15, 15)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from conveyor.config.models import SplitConfig
from conveyor.data._columns import column_list, dtype_kind, json_value, nearest_name
from conveyor.data._split_sizes import allocate, class_sizes, min_rows
from conveyor.errors import DataError

__all__ = ["PARTS", "SplitResult", "allocate", "split_frame"]

PARTS = ("train", "validation", "test")
_PART = "__part"


@dataclass(frozen=True)
class SplitResult:
    """The three parts (validation may be empty, with the same columns) and a JSON-able report."""

    train: pl.DataFrame
    validation: pl.DataFrame
    test: pl.DataFrame
    report: dict[str, Any]

    def parts(self) -> dict[str, pl.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split_frame(
    frame: pl.DataFrame, config: SplitConfig, *, target: str, task: str, seed: int
) -> SplitResult:
    """Split ``frame`` as ``config`` says, reproducibly for a seed.

    Args:
        frame: the cleaned data.
        config: the ``split`` section; its ``seed``, when set, wins over ``seed``.
        target: the target column (must exist and have no missing values).
        task: ``binary``, ``multiclass`` or ``regression``.
        seed: the project seed.

    Raises:
        DataError: the target, time or group column is missing or unusable, a
            part would be empty, or (stratified) a class has too few rows.
    """
    seed = config.seed if config.seed is not None else seed
    _require(frame, target, "target")
    missing = frame.get_column(target).null_count()
    if missing:
        raise DataError(
            f"split: target '{target}' is missing in {missing} of {frame.height} rows",
            hint=f"add '- {{op: drop_missing, columns: [{target}]}}' to the clean section",
        )
    ratios = (config.train, config.validation, config.test)
    extra: dict[str, Any] = {}
    if config.method == "random":
        part = _random_parts(frame.height, ratios, seed)
    elif config.method == "stratified":
        part = _stratified_parts(frame, target, task, ratios, seed)
    elif config.method == "time":
        frame, part, extra = _time_parts(frame, str(config.time_column), ratios)
    else:
        part, extra = _group_parts(frame, str(config.group_column), ratios, seed)
    tagged = frame.with_columns(pl.Series(_PART, part, dtype=pl.Int8))
    train, validation, test = (tagged.filter(pl.col(_PART) == i).drop(_PART) for i in range(3))
    report = _report(frame, (train, validation, test), config, target, task, seed)
    report.update(extra)
    return SplitResult(train=train, validation=validation, test=test, report=report)


# ---------------------------------------------------------------- sizes


def _describe(ratios: Sequence[float]) -> str:
    return " / ".join(f"{name} {r:g}" for name, r in zip(PARTS, ratios))


def _check_sizes(n: int, ratios: Sequence[float], what: str) -> list[int]:
    sizes = allocate(n, ratios)
    empty = [p for p, s, r in zip(PARTS, sizes, ratios) if r > 0 and s == 0]
    if empty:
        raise DataError(
            f"split: {what} has {n} rows, too few for {_describe(ratios)} ({' and '.join(empty)} would be "
            f"empty; at least {min_rows(ratios)} rows are needed)",
            hint="collect more rows or change the split ratios",
        )
    return sizes


def _assign(positions: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Part code (0, 1, 2) for each position in a shuffled order."""
    return np.searchsorted(np.cumsum(sizes), positions, side="right").astype(np.int8)


# ---------------------------------------------------------------- methods


def _shuffle_positions(n: int, seed: int) -> np.ndarray:
    """``pos[row]``: where each row lands in a seeded permutation of ``range(n)``."""
    order = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    return pos


def _random_parts(n: int, ratios: Sequence[float], seed: int) -> np.ndarray:
    sizes = _check_sizes(n, ratios, "the data")
    return _assign(_shuffle_positions(n, seed), sizes)


def _stratified_parts(
    frame: pl.DataFrame, target: str, task: str, ratios: Sequence[float], seed: int
) -> np.ndarray:
    if task == "regression":
        raise DataError(
            "split: method 'stratified' needs a classification task, and this one is regression",
            hint="set split.method: random",
        )
    n = frame.height
    _check_sizes(n, ratios, "the data")
    work = pl.DataFrame({"cls": frame.get_column(target), "pos": _shuffle_positions(n, seed)})
    counts = work.group_by("cls").len().sort("cls")
    bounds: dict[Any, tuple[int, int]] = {}
    per_class = class_sizes(counts.get_column("len").to_list(), ratios)
    for (cls, count), sizes in zip(counts.iter_rows(), per_class):
        if any(s == 0 and r > 0 for s, r in zip(sizes, ratios)):
            raise DataError(
                f"split: class {cls!r} of target '{target}' has {count} rows; a stratified split "
                f"{_describe(ratios)} needs at least {min_rows(ratios)} rows per class",
                hint="set split.method: random, merge rare classes, or collect more rows",
            )
        bounds[cls] = (sizes[0], sizes[0] + sizes[1])
    table = pl.DataFrame(
        {
            "cls": list(bounds),
            "b1": [b[0] for b in bounds.values()],
            "b2": [b[1] for b in bounds.values()],
        },
        schema={"cls": work.schema["cls"], "b1": pl.Int64, "b2": pl.Int64},
    )
    rank = pl.col("pos").rank("ordinal").over("cls").cast(pl.Int64) - 1
    ranked = work.with_columns(rank.alias("rank")).with_row_index("__i")
    joined = ranked.join(table, on="cls", how="left").sort("__i")
    part = joined.select(
        pl.when(pl.col("rank") < pl.col("b1"))
        .then(0)
        .when(pl.col("rank") < pl.col("b2"))
        .then(1)
        .otherwise(2)
    ).to_series()
    return part.to_numpy().astype(np.int8)


def _time_parts(
    frame: pl.DataFrame, column: str, ratios: Sequence[float]
) -> tuple[pl.DataFrame, np.ndarray, dict[str, Any]]:
    _require(frame, column, "split.time_column")
    kind = dtype_kind(frame.schema[column])
    if kind not in ("date", "datetime", "int", "float"):
        raise DataError(
            f"split: time_column '{column}' is {kind}; it must hold dates, datetimes or numbers",
            hint=f"add a repair_types op with columns: {{{column}: datetime}} to the clean section",
        )
    nulls = frame.get_column(column).null_count()
    if nulls:
        raise DataError(
            f"split: time_column '{column}' is missing in {nulls} rows",
            hint=f"add a drop_missing op with columns: [{column}] to the clean section",
        )
    ordered = frame.with_row_index("__i").sort([column, "__i"]).drop("__i")
    n = ordered.height
    sizes = _check_sizes(n, ratios, "the data")
    stamps = ordered.get_column(column).to_physical().to_numpy()
    b1 = _tie_edge(stamps, sizes[0])
    b2 = b1 if ratios[1] == 0 else _tie_edge(stamps, max(b1, sizes[0] + sizes[1]))
    cuts = [b1, b2 - b1, n - b2]
    empty = [p for p, s, r in zip(PARTS, cuts, ratios) if r > 0 and s == 0]
    if empty:
        raise DataError(
            f"split: time_column '{column}' repeats the same time across a boundary, leaving "
            f"{' and '.join(empty)} empty",
            hint="use a finer time column or change the split ratios",
        )
    part = np.repeat(np.array([0, 1, 2], dtype=np.int8), cuts)
    moved = {"train_end": b1 - sizes[0], "validation_end": b2 - sizes[0] - sizes[1]}
    return ordered, part, {"time_column": column, "rows_moved_for_ties": moved}


def _tie_edge(stamps: np.ndarray, cut: int) -> int:
    """Move ``cut`` so that equal times never straddle it: to the nearer edge of the tie."""
    if cut <= 0 or cut >= len(stamps) or stamps[cut - 1] != stamps[cut]:
        return cut
    start = int(np.searchsorted(stamps, stamps[cut], side="left"))
    end = int(np.searchsorted(stamps, stamps[cut], side="right"))
    return end if end - cut <= cut - start else start


def _group_parts(
    frame: pl.DataFrame, column: str, ratios: Sequence[float], seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    _require(frame, column, "split.group_column")
    n = frame.height
    sizes = _check_sizes(n, ratios, "the data")
    groups = frame.group_by(column).len().sort(column, nulls_last=True)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(groups.height)
    counts = groups.get_column("len").to_numpy()[order]
    # A group goes where its middle row would fall in the shuffled order.
    middle = np.cumsum(counts) - counts / 2.0
    group_part = np.empty(groups.height, dtype=np.int8)
    group_part[order] = _assign(middle, sizes)
    found = np.bincount(group_part, minlength=3)
    empty = [p for p, k, r in zip(PARTS, found, ratios) if r > 0 and k == 0]
    if empty:
        raise DataError(
            f"split: group_column '{column}' has {groups.height} groups; with {_describe(ratios)} "
            f"no group falls in {' and '.join(empty)}",
            hint="use more, smaller groups, change the ratios, or set split.method: random",
        )
    keys = groups.get_column(column)
    mapping = pl.DataFrame({column: keys, _PART: group_part})
    non_null = mapping.filter(pl.col(column).is_not_null())
    null_part = mapping.filter(pl.col(column).is_null()).get_column(_PART)
    expr = pl.col(column).replace_strict(
        non_null.get_column(column), non_null.get_column(_PART), default=None, return_dtype=pl.Int8
    )
    if null_part.len():
        expr = pl.when(pl.col(column).is_null()).then(pl.lit(null_part[0], pl.Int8)).otherwise(expr)
    part = frame.select(expr).to_series().to_numpy().astype(np.int8)
    return part, {"group_column": column, "groups": {p: int(k) for p, k in zip(PARTS, found)}}


# ---------------------------------------------------------------- report


def _require(frame: pl.DataFrame, name: str, key: str) -> None:
    if name not in frame.columns:
        guess = nearest_name(name, frame.columns)
        raise DataError(
            f"split: {key} '{name}' is not a column; columns are: {column_list(frame.columns)}",
            hint=f"did you mean '{guess}'?" if guess else f"check '{key}' in conveyor.yaml",
        )


def _report(
    frame: pl.DataFrame,
    parts: Sequence[pl.DataFrame],
    config: SplitConfig,
    target: str,
    task: str,
    seed: int,
) -> dict[str, Any]:
    total = max(frame.height, 1)
    report: dict[str, Any] = {
        "method": config.method,
        "seed": seed,
        "ratios": dict(zip(PARTS, (config.train, config.validation, config.test))),
        "rows": {p: part.height for p, part in zip(PARTS, parts)},
        "shares": {p: round(part.height / total, 6) for p, part in zip(PARTS, parts)},
    }
    if task in ("binary", "multiclass"):
        report["class_balance"] = {p: _balance(part, target) for p, part in zip(PARTS, parts)}
        report["class_balance"]["all"] = _balance(frame, target)
    else:
        report["target_mean"] = {
            p: json_value(part.get_column(target).mean()) for p, part in zip(PARTS, parts)
        }
    if config.method == "time" and config.time_column:
        col = config.time_column
        report["time_ranges"] = {
            p: {
                "from": json_value(part.get_column(col).min()),
                "to": json_value(part.get_column(col).max()),
            }
            if part.height
            else None
            for p, part in zip(PARTS, parts)
        }
    return report


def _balance(part: pl.DataFrame, target: str) -> dict[str, float]:
    if not part.height:
        return {}
    counts = part.group_by(target).len().sort(target)
    return {str(json_value(c)): round(k / part.height, 6) for c, k in counts.iter_rows()}
