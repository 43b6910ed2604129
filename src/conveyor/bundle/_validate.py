"""Fast validation of request records against a signature.

Each input field is compiled once into a small checker; a batch is then one
pass over plain dicts with no pandas per record. Values come out as
per-column Python lists (``RecordValidator.columns``), which the ONNX runtime
turns into arrays directly and :meth:`RecordValidator.frame` turns into the
pandas frame the Python pipeline wants.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.bundle._signature import InputField, Signature

__all__ = ["FieldError", "Problem", "RecordValidator"]

Problem = Literal[
    "not_an_object",
    "missing",
    "null",
    "type",
    "nan",
    "unknown_category",
    "out_of_range",
    "unexpected",
]

_MISSING = object()
_INVALID = object()


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one record.

    Attributes:
        index: position of the record in the request (0-based).
        field: the field name ("" when the record itself is not an object).
        problem: machine-readable kind of problem.
        message: human-readable sentence naming the record, the field and the problem.
    """

    index: int
    field: str
    problem: Problem
    message: str

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "field": self.field,
            "problem": self.problem,
            "message": self.message,
        }


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | np.integer):
        return "integer"
    if isinstance(value, float | np.floating):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


class _Fail(Exception):
    def __init__(self, problem: Problem, detail: str) -> None:
        self.problem = problem
        self.detail = detail


def _parse_number(v: Any) -> float:
    if type(v) is float:
        if v - v != 0.0:  # NaN or +/-inf
            raise _Fail("nan", f"{v} is not allowed (send null for a missing value)")
        return v
    if type(v) is int:
        return float(v)
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
        raise _Fail("type", f"expected number, got {_json_kind(v)} {_show(v)}")
    f = float(v)
    if not math.isfinite(f):
        raise _Fail("nan", f"{f} is not allowed (send null for a missing value)")
    return f


def _parse_integer(v: Any) -> int:
    if type(v) is int:
        return v
    if isinstance(v, bool | np.bool_):
        raise _Fail("type", f"expected integer, got boolean {_show(v)}")
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        if not math.isfinite(v):
            raise _Fail("nan", f"{v} is not allowed (send null for a missing value)")
        if float(v).is_integer():
            return int(v)
        raise _Fail("type", f"expected integer, got {_show(v)}")
    raise _Fail("type", f"expected integer, got {_json_kind(v)} {_show(v)}")


def _parse_boolean(v: Any) -> bool:
    if type(v) is bool:
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    raise _Fail("type", f"expected boolean, got {_json_kind(v)} {_show(v)}")


def _parse_string(v: Any) -> str:
    if type(v) is str:
        return v
    if isinstance(v, str):
        return str(v)
    raise _Fail("type", f"expected string, got {_json_kind(v)} {_show(v)}")


def _datetime_parser(aware: bool) -> Callable[[Any], datetime]:
    def parse(v: Any) -> datetime:
        if isinstance(v, datetime):
            value = v
        elif isinstance(v, date):
            value = datetime(v.year, v.month, v.day)
        elif isinstance(v, str):
            try:
                value = datetime.fromisoformat(v)
            except ValueError:
                raise _Fail("type", f"expected an ISO 8601 datetime, got {_show(v)}") from None
        else:
            raise _Fail(
                "type", f"expected an ISO 8601 datetime string, got {_json_kind(v)} {_show(v)}"
            )
        # Compare and store like the training column: naive UTC or aware UTC.
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
            return value if aware else value.replace(tzinfo=None)
        return value.replace(tzinfo=UTC) if aware else value

    return parse


class _Checker:
    __slots__ = ("allowed", "allowed_text", "field", "hi", "lo", "name", "nullable", "parse")

    def __init__(self, field: InputField, *, strict_categories: bool, strict_ranges: bool) -> None:
        self.field = field
        self.name = field.name
        self.nullable = field.nullable
        aware = "," in field.dtype or "UTC" in field.dtype
        parsers: dict[str, Callable[[Any], Any]] = {
            "number": _parse_number,
            "integer": _parse_integer,
            "boolean": _parse_boolean,
            "string": _parse_string,
            "datetime": _datetime_parser(aware),
        }
        self.parse = parsers[field.type]
        self.allowed: frozenset[Any] | None = None
        self.allowed_text = ""
        if strict_categories and field.categories is not None:
            self.allowed = frozenset(field.categories)
            shown = [str(c) for c in field.categories[:10]]
            more = f", … ({len(field.categories)} in all)" if len(field.categories) > 10 else ""
            self.allowed_text = ", ".join(shown) + more
        self.lo = self.hi = None
        if strict_ranges and field.minimum is not None and field.maximum is not None:
            if field.type == "datetime":
                self.lo = self.parse(field.minimum)
                self.hi = self.parse(field.maximum)
            else:
                self.lo, self.hi = field.minimum, field.maximum

    def check(self, value: Any) -> Any:
        parsed = self.parse(value)
        if self.allowed is not None and parsed not in self.allowed:
            raise _Fail(
                "unknown_category",
                f"unknown category {_show(parsed)} (allowed: {self.allowed_text})",
            )
        if self.lo is not None and not (self.lo <= parsed <= self.hi):
            raise _Fail(
                "out_of_range",
                f"{_show(parsed)} is outside the training range [{self.lo}, {self.hi}]",
            )
        return parsed


class RecordValidator:
    """A signature compiled for one set of options; reuse it across requests."""

    def __init__(
        self,
        signature: Signature,
        *,
        strict_categories: bool,
        strict_ranges: bool,
        extra: Literal["ignore", "reject"],
    ) -> None:
        self.signature = signature
        self.extra = extra
        self._checkers = [
            _Checker(f, strict_categories=strict_categories, strict_ranges=strict_ranges)
            for f in signature.inputs
        ]
        self._names = frozenset(f.name for f in signature.inputs)

    def columns(
        self, records: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, list[Any]], list[FieldError]]:
        """Validate ``records``; per-column value lists (None where null or invalid) and errors."""
        errors: list[FieldError] = []
        checkers = self._checkers
        out: list[list[Any]] = [[] for _ in checkers]
        reject_extra = self.extra == "reject"
        names = self._names
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                errors.append(
                    FieldError(
                        index,
                        "",
                        "not_an_object",
                        f"record {index}: expected an object with the input fields, got {_json_kind(record)}",
                    )
                )
                for col in out:
                    col.append(None)
                continue
            for checker, col in zip(checkers, out):
                value = record.get(checker.name, _MISSING)
                if value is None or value is _MISSING:
                    if not checker.nullable:
                        problem: Problem = "missing" if value is _MISSING else "null"
                        what = "is missing" if value is _MISSING else "is null"
                        errors.append(
                            FieldError(
                                index,
                                checker.name,
                                problem,
                                f"record {index}: field {checker.name!r} {what} but is required "
                                f"({checker.field.type})",
                            )
                        )
                    col.append(None)
                    continue
                try:
                    col.append(checker.check(value))
                except _Fail as fail:
                    errors.append(
                        FieldError(
                            index,
                            checker.name,
                            fail.problem,
                            f"record {index}: field {checker.name!r}: {fail.detail}",
                        )
                    )
                    col.append(None)
            if reject_extra and not names.issuperset(record):
                for key in record:
                    if key not in names:
                        errors.append(
                            FieldError(
                                index,
                                str(key),
                                "unexpected",
                                f"record {index}: field {str(key)!r} is not an input of the model",
                            )
                        )
        return {c.name: col for c, col in zip(checkers, out)}, errors

    def frame(self, columns: dict[str, list[Any]]) -> pd.DataFrame:
        """The pipeline's input frame from validated columns (training order and dtypes)."""
        import pandas as pd

        data = {f.name: _column_array(f, columns[f.name]) for f in self.signature.inputs}
        n = len(next(iter(columns.values()))) if columns else 0
        return pd.DataFrame(data, index=pd.RangeIndex(n))


def _column_array(field: InputField, values: list[Any]) -> Any:
    import pandas as pd

    has_null = any(v is None for v in values)
    kind = field.type
    if kind == "number":
        return np.array(
            [math.nan if v is None else v for v in values] if has_null else values, dtype=np.float64
        )
    if kind == "integer":
        if has_null:
            return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        dtype = field.dtype if field.dtype.startswith(("int", "uint")) else "int64"
        return np.array(values, dtype=dtype)
    if kind == "boolean":
        if has_null:
            return np.array([math.nan if v is None else v for v in values], dtype=object)
        return np.array(values, dtype=bool)
    if kind == "datetime":
        series = pd.to_datetime(pd.Series(values, dtype=object), utc="UTC" in field.dtype)
        try:
            return series.astype(field.dtype)
        except (TypeError, ValueError):
            return series
    # Strings: missing must be NaN (not None) for scikit-learn's imputers to see it.
    if field.dtype in ("str", "string"):
        return pd.Series(values, dtype=field.dtype)
    return np.array(
        [math.nan if v is None else v for v in values] if has_null else values, dtype=object
    )
