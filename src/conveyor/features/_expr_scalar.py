"""A scalar evaluator: the syntax tree compiled once into nested closures.

It follows Polars' semantics exactly, so that a record scored one at a time
gets the same value as the same row in a batch:

- arithmetic and math functions work on 64-bit floats (ints and booleans are
  promoted); division by zero gives ``inf``/``nan``; ``%`` is floor modulo
  computed as ``a - b * floor(a / b)``;
- ``null`` propagates through operators and comparisons, ``and``/``or``
  follow three-valued (Kleene) logic, ``if`` treats a null condition as false;
- NaN is a value, not a null: it equals itself and sorts above every number;
  ``min``/``max`` skip NaN unless every value is NaN, ``clip`` ignores NaN and
  null bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from conveyor.errors import DataError
from conveyor.features._expr_nodes import (
    Binary,
    Call,
    Column,
    Compare,
    InList,
    Literal,
    Logical,
    Node,
    Not,
    Unary,
)

__all__ = ["compile_scalar", "normalise_scalar"]

Fn = Callable[[Mapping[str, Any]], Any]
_MISSING = object()
_INF = math.inf
_NAN = math.nan


def compile_scalar(node: Node, *, text: str) -> Fn:
    """Compile ``node`` into ``f(record) -> value``; build once, call many times."""
    return _Compiler(text).build(node)


# ---------------------------------------------------------------- value helpers


def _lookup(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name, _MISSING)
    if value is _MISSING:
        if "." not in name:
            return None
        # Dotted names may address nested mappings: {"performance": {"accuracy": 0.9}}.
        value = record
        for part in name.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return normalise_scalar(value)
    kind = type(value)
    if kind is float or kind is int or kind is str or kind is bool or value is None:
        return value
    return normalise_scalar(value)


def normalise_scalar(value: Any) -> Any:
    """Map numpy / pandas scalars and missing markers to plain Python values."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    item = getattr(value, "item", None)  # numpy scalars (np.bool_ is no bool subclass)
    if item is not None and getattr(value, "shape", None) == ():
        return normalise_scalar(item())
    if type(value).__name__ in {"NAType", "NaTType"} and type(value).__module__.startswith(
        "pandas"
    ):
        return None
    return value


def _ieee_div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return _NAN
        return math.copysign(_INF, a) * math.copysign(1.0, b)


def _floor_mod(a: float, b: float) -> float:
    q = _ieee_div(a, b)
    floored = float(math.floor(q)) if math.isfinite(q) else q
    return a - b * floored


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except (ValueError, OverflowError, ZeroDivisionError):
        return _np_call("power", a, b)


def _np_call(name: str, *args: float) -> float:
    # C99 semantics for the special cases Python's math raises on (log(0), sqrt(-1), 0 ** -1, ...).
    import numpy as np

    with np.errstate(all="ignore"):
        return float(getattr(np, name)(*(np.float64(a) for a in args)))


def _math(fn: Callable[[float], float], np_name: str) -> Callable[[float], float]:
    def call(x: float) -> float:
        try:
            return fn(x)
        except (ValueError, OverflowError):
            return _np_call(np_name, x)

    return call


def _round(x: float, digits: int) -> float:
    if digits == 0:
        return float(round(x)) if math.isfinite(x) else x
    factor = 10.0**digits
    scaled = x * factor
    if not math.isfinite(scaled):
        return x
    return float(round(scaled)) / factor


def _order(a: Any, b: Any) -> int:
    """Three-way comparison in Polars' total order (NaN == NaN, NaN above everything)."""
    if type(a) is str:
        return (a > b) - (a < b)
    a_nan, b_nan = a != a, b != b
    if a_nan or b_nan:
        return int(a_nan) - int(b_nan)
    return (a > b) - (a < b)


_COMPARE: dict[str, Callable[[int], bool]] = {
    "<": lambda o: o < 0,
    "<=": lambda o: o <= 0,
    ">": lambda o: o > 0,
    ">=": lambda o: o >= 0,
    "==": lambda o: o == 0,
    "!=": lambda o: o != 0,
}
_UNARY_MATH: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "exp": _math(math.exp, "exp"),
    "log": _math(math.log, "log"),
    "log1p": _math(math.log1p, "log1p"),
    "sqrt": _math(math.sqrt, "sqrt"),
}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _ieee_div,
    "%": _floor_mod,
    "**": _pow,
}


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text

    def type_error(self, node: Node, what: str, value: Any) -> DataError:
        where = f"column '{node.name}'" if isinstance(node, Column) else f"column {node.pos + 1}"
        return DataError(
            f"expression {self.text!r}: {what}, but got {type(value).__name__} {value!r} ({where})"
        )

    def number(self, node: Node, what: str) -> Fn:
        """Compile ``node`` and coerce its non-null values to float."""
        inner = self.build(node)

        def number(record: Mapping[str, Any]) -> Any:
            value = inner(record)
            kind = type(value)
            if kind is float or value is None:
                return value
            if kind is int or kind is bool:
                try:
                    return float(value)
                except OverflowError:
                    return math.copysign(_INF, value)
            raise self.type_error(node, what, value)

        return number

    def boolean(self, node: Node, what: str) -> Fn:
        inner = self.build(node)

        def boolean(record: Mapping[str, Any]) -> Any:
            value = inner(record)
            if value is None or type(value) is bool:
                return value
            raise self.type_error(node, what, value)

        return boolean

    def build(self, node: Node) -> Fn:
        if isinstance(node, Literal):
            value = node.value
            return lambda record: value
        if isinstance(node, Column):
            name = node.name
            return lambda record: _lookup(record, name)
        if isinstance(node, Unary):
            return self.unary(node)
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Logical):
            return self.logical(node)
        if isinstance(node, Not):
            operand = self.boolean(node.operand, "'not' needs true/false")
            return lambda record: None if (v := operand(record)) is None else not v
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {node!r}")  # pragma: no cover

    def unary(self, node: Unary) -> Fn:
        operand = self.number(node.operand, f"unary '{node.op}' needs a number")
        if node.op == "+":
            return operand
        return lambda record: None if (v := operand(record)) is None else -v

    def binary(self, node: Binary) -> Fn:
        what = f"'{node.op}' needs numbers"
        left, right, op = (
            self.number(node.left, what),
            self.number(node.right, what),
            _ARITHMETIC[node.op],
        )

        def binary(record: Mapping[str, Any]) -> Any:
            a = left(record)
            b = right(record)
            if a is None or b is None:
                return None
            return op(a, b)

        return binary

    def compare(self, node: Compare) -> Fn:
        left, right, test = self.build(node.left), self.build(node.right), _COMPARE[node.op]

        def compare(record: Mapping[str, Any]) -> Any:
            a = left(record)
            b = right(record)
            if a is None or b is None:
                return None
            a_str, b_str = type(a) is str, type(b) is str
            if a_str != b_str:
                raise self.type_error(
                    node.right if a_str else node.left,
                    f"'{node.op}' compares a string",
                    b if a_str else a,
                )
            if not a_str:
                a, b = _as_float(a, self, node.left), _as_float(b, self, node.right)
            return test(_order(a, b))

        return compare

    def logical(self, node: Logical) -> Fn:
        what = f"'{node.op}' needs true/false values"
        left, right = self.boolean(node.left, what), self.boolean(node.right, what)
        if node.op == "and":

            def conjunction(record: Mapping[str, Any]) -> Any:
                a = left(record)
                if a is False:
                    return False
                b = right(record)
                if b is False:
                    return False
                return None if a is None or b is None else True

            return conjunction

        def disjunction(record: Mapping[str, Any]) -> Any:
            a = left(record)
            if a is True:
                return True
            b = right(record)
            if b is True:
                return True
            return None if a is None or b is None else False

        return disjunction

    def in_list(self, node: InList) -> Fn:
        items = [v for v in node.values if v is not None]
        numeric = bool(items) and type(items[0]) is not str
        members = {float(v) for v in items if v == v} if numeric else set(items)
        has_nan = any(v != v for v in items)
        operand, negated = self.build(node.operand), node.negated

        def contains(record: Mapping[str, Any]) -> Any:
            value = operand(record)
            if value is None:
                return None
            if not items:
                found = False
            elif numeric:
                if type(value) is str:
                    raise self.type_error(node.operand, "'in' looks for a number", value)
                value = _as_float(value, self, node.operand)
                found = has_nan if value != value else value in members
            else:
                if type(value) is not str:
                    raise self.type_error(node.operand, "'in' looks for a string", value)
                found = value in members
            return found is not negated

        return contains

    def call(self, node: Call) -> Fn:
        name, args = node.name, node.args
        what = f"{name}() needs numbers"
        if name in _UNARY_MATH:
            fn, x = _UNARY_MATH[name], self.number(args[0], what)
            return lambda record: None if (v := x(record)) is None else fn(v)
        if name == "round":
            x = self.number(args[0], what)
            digits = int(args[1].value) if len(args) == 2 else 0  # type: ignore[attr-defined]
            return lambda record: None if (v := x(record)) is None else _round(v, digits)
        if name == "clip":
            return self.clip(*(self.number(a, what) for a in args))
        if name in {"min", "max"}:
            return self.extreme(name, [self.number(a, what) for a in args])
        if name == "if":
            cond = self.boolean(args[0], "if() needs a true/false condition")
            then, otherwise = self.build(args[1]), self.build(args[2])
            return lambda record: then(record) if cond(record) is True else otherwise(record)
        if name == "coalesce":
            parts = [self.build(a) for a in args]

            def coalesce(record: Mapping[str, Any]) -> Any:
                for part in parts:
                    value = part(record)
                    if value is not None:
                        return value
                return None

            return coalesce
        if name == "is_null":
            x = self.build(args[0])
            return lambda record: x(record) is None
        raise TypeError(f"unknown function {name}")  # pragma: no cover

    @staticmethod
    def clip(x: Fn, lower: Fn, upper: Fn) -> Fn:
        def clip(record: Mapping[str, Any]) -> Any:
            value = x(record)
            if value is None:
                return None
            lo, hi = lower(record), upper(record)
            # Null and NaN bounds mean "no bound"; a NaN value stays NaN.
            if lo is not None and value < lo:
                return lo
            if hi is not None and value > hi:
                return hi
            return value

        return clip

    @staticmethod
    def extreme(name: str, parts: list[Fn]) -> Fn:
        pick = min if name == "min" else max

        def extreme(record: Mapping[str, Any]) -> Any:
            values = [v for part in parts if (v := part(record)) is not None]
            if not values:
                return None
            finite = [v for v in values if v == v]
            return pick(finite) if finite else _NAN

        return extreme


def _as_float(value: Any, compiler: _Compiler, node: Node) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is bool:
        try:
            return float(value)
        except OverflowError:
            return math.copysign(_INF, value)
    raise compiler.type_error(node, "expected a number", value)
