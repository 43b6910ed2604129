"""Translate a syntax tree into a vectorised Polars expression.

The scalar evaluator (``_expr_scalar``) mirrors exactly what this produces;
a property test holds the two together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

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
from conveyor.features._expr_types import kind_of_literal

if TYPE_CHECKING:
    import polars as pl

__all__ = ["compile_polars"]


def compile_polars(node: Node, kinds: Mapping[str, str] | None = None) -> pl.Expr:
    """The Polars expression computing ``node``; ``kinds`` (column -> kind) refines casts."""
    return _Builder(kinds or {}).build(node)[0]


class _Builder:
    def __init__(self, kinds: Mapping[str, str]) -> None:
        import polars as pl

        self.pl = pl
        self.kinds = kinds

    def float(self, node: Node) -> pl.Expr:
        # Arithmetic is done in Float64 so that ints, booleans and nulls behave alike.
        return self.build(node)[0].cast(self.pl.Float64)

    def build(self, node: Node) -> tuple[pl.Expr, str]:
        pl = self.pl
        if isinstance(node, Literal):
            return self.literal(node.value), kind_of_literal(node.value)
        if isinstance(node, Column):
            return pl.col(node.name), self.kinds.get(node.name, "any")
        if isinstance(node, Unary):
            operand = self.float(node.operand)
            return (operand if node.op == "+" else -operand), "number"
        if isinstance(node, Binary):
            left, right = self.float(node.left), self.float(node.right)
            if node.op == "**":
                return left.pow(right), "number"
            ops = {
                "+": left.__add__,
                "-": left.__sub__,
                "*": left.__mul__,
                "/": left.__truediv__,
                "%": left.__mod__,
            }
            return ops[node.op](right), "number"
        if isinstance(node, Compare):
            return self.compare(node), "bool"
        if isinstance(node, Logical):
            left, right = self.logical_operand(node.left), self.logical_operand(node.right)
            return (left & right if node.op == "and" else left | right), "bool"
        if isinstance(node, Not):
            return ~self.logical_operand(node.operand), "bool"
        if isinstance(node, InList):
            return self.in_list(node), "bool"
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {node!r}")  # pragma: no cover

    def literal(self, value: object) -> pl.Expr:
        pl = self.pl
        if value is None:
            return pl.lit(None)
        if isinstance(value, bool):
            return pl.lit(value, dtype=pl.Boolean)
        if isinstance(value, int | float):
            return pl.lit(_to_float(value), dtype=pl.Float64)
        return pl.lit(value, dtype=pl.String)

    def logical_operand(self, node: Node) -> pl.Expr:
        expr, kind = self.build(node)
        # A column of unknown type may be all-null (dtype Null), which 'not' and 'when' reject.
        return expr if kind == "bool" else expr.cast(self.pl.Boolean)

    def compare(self, node: Compare) -> pl.Expr:
        (left, lkind), (right, rkind) = self.build(node.left), self.build(node.right)
        numeric = {"number", "bool"}
        # A boolean compared with a number compares as 0/1, as in the scalar evaluator.
        if lkind in numeric and rkind in numeric and lkind != rkind:
            left, right = left.cast(self.pl.Float64), right.cast(self.pl.Float64)
        ops = {
            "<": left.__lt__,
            "<=": left.__le__,
            ">": left.__gt__,
            ">=": left.__ge__,
            "==": left.__eq__,
            "!=": left.__ne__,
        }
        return ops[node.op](right)

    def in_list(self, node: InList) -> pl.Expr:
        pl = self.pl
        operand, _ = self.build(node.operand)
        items = [v for v in node.values if v is not None]
        if not items:
            found = pl.when(operand.is_null()).then(pl.lit(None, dtype=pl.Boolean)).otherwise(False)
        elif isinstance(items[0], str):
            found = operand.is_in(pl.Series(items, dtype=pl.String))
        else:
            values = pl.Series([_to_float(v) for v in items], dtype=pl.Float64)
            found = operand.cast(pl.Float64).is_in(values)
        return ~found if node.negated else found

    def call(self, node: Call) -> tuple[pl.Expr, str]:
        pl = self.pl
        name, args = node.name, node.args
        if name in {"abs", "exp", "log", "log1p", "sqrt"}:
            x = self.float(args[0])
            return {"abs": x.abs, "exp": x.exp, "log": x.log, "log1p": x.log1p, "sqrt": x.sqrt}[
                name
            ](), "number"
        if name == "round":
            digits = int(args[1].value) if len(args) == 2 else 0  # type: ignore[attr-defined]
            return self.float(args[0]).round(digits, mode="half_to_even"), "number"
        if name == "clip":
            x, lower, upper = (self.float(a) for a in args)
            return x.clip(lower, upper), "number"
        if name in {"min", "max"}:
            parts = [self.float(a) for a in args]
            return (
                pl.min_horizontal(parts) if name == "min" else pl.max_horizontal(parts)
            ), "number"
        if name == "if":
            cond = self.logical_operand(args[0])
            (then, tkind), (otherwise, okind) = self.build(args[1]), self.build(args[2])
            return pl.when(cond).then(then).otherwise(otherwise), _join(tkind, okind)
        if name == "coalesce":
            built = [self.build(a) for a in args]
            kind = "null"
            for _, k in built:
                kind = _join(kind, k)
            return pl.coalesce([e for e, _ in built]), kind
        if name == "is_null":
            return self.build(args[0])[0].is_null(), "bool"
        raise TypeError(f"unknown function {name}")  # pragma: no cover


def _join(a: str, b: str) -> str:
    if a == "null":
        return b
    if b == "null" or a == b:
        return a
    return "any"


def _to_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")  # type: ignore[operator]
