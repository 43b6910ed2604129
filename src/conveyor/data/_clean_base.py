"""What every cleaning operation shares: its report and its view of the frame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from conveyor.data._columns import column_list, dtype_kind, nearest_name
from conveyor.errors import DataError

__all__ = ["OpContext", "OpReport", "summarise"]


@dataclass(frozen=True)
class OpReport:
    """What one cleaning operation did.

    Attributes:
        op: the operation's name (``fill_missing``).
        rows_changed: rows with at least one changed cell.
        cells_changed: cells whose value or type changed.
        rows_removed: rows taken out of the frame.
        columns_removed: columns taken out of the frame.
        details: per-column specifics (fill values, bounds, parse failures), JSON-able.
        message: one human line, e.g. ``repair_types: total_charges str -> float (7032 cells), 0 failed``.
    """

    op: str
    rows_changed: int = 0
    cells_changed: int = 0
    rows_removed: int = 0
    columns_removed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "rows_changed": self.rows_changed,
            "cells_changed": self.cells_changed,
            "rows_removed": self.rows_removed,
            "columns_removed": list(self.columns_removed),
            "details": self.details,
            "message": self.message,
        }


@dataclass(frozen=True)
class OpContext:
    """The position and name of the running op, and the columns it must not harm."""

    index: int
    op: str
    protected: frozenset[str]

    @property
    def where(self) -> str:
        return f"clean[{self.index}] {self.op}"

    def error(self, message: str, *, hint: str | None = None) -> DataError:
        return DataError(f"{self.where}: {message}", hint=hint)

    def require(self, frame: pl.DataFrame, names: Iterable[str]) -> None:
        """Raise a :class:`DataError` naming the first column ``frame`` does not have."""
        for name in names:
            if name not in frame.columns:
                guess = nearest_name(name, frame.columns)
                raise self.error(
                    f"column '{name}' not found; columns are: {column_list(frame.columns)}",
                    hint=f"did you mean '{guess}'?"
                    if guess
                    else "an earlier op may have dropped it",
                )

    def refuse_protected(self, names: Iterable[str], action: str) -> None:
        for name in names:
            if name in self.protected:
                raise self.error(
                    f"column '{name}' is the target or the id column and is never {action}",
                    hint="remove it from this op's columns; drop rows missing it with drop_missing",
                )

    def columns_of_kind(self, frame: pl.DataFrame, kinds: Sequence[str]) -> list[str]:
        """Unprotected columns whose dtype family is one of ``kinds``."""
        return [
            n for n, t in frame.schema.items() if dtype_kind(t) in kinds and n not in self.protected
        ]


def summarise(items: Sequence[str], *, limit: int = 3) -> str:
    """``a, b, c and 4 more`` for one-line messages."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
