"""Frozen record dataclasses built from database rows whose columns bear the fields' names."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from typing import Any, TypeVar

__all__ = ["record_from_row"]

R = TypeVar("R")


def record_from_row(cls: type[R], row: Any, *, json_fields: Collection[str] = ()) -> R:
    """``cls`` (a dataclass) from the like-named columns of ``row``.

    Args:
        cls: the record class; every field is read from the column of that name.
        row: a SQLAlchemy row (or anything with those attributes).
        json_fields: fields stored as JSON text, decoded here.

    Example:
        >>> record_from_row(AlertRecord, row, json_fields=("evidence",))  # doctest: +SKIP
    """
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}
    for name in json_fields:
        values[name] = json.loads(values[name])
    return cls(**values)
