"""Static kinds of expression values, checked before anything runs.

Kinds: ``number``, ``bool``, ``string``, ``null`` (the literal), ``any``
(a column whose type is not known) and ``other`` (dates, lists, ...). A check
fails only when a kind is *known* to be wrong, so an expression without a
schema still passes and is checked again by the engine that runs it.
"""

from __future__ import annotations

from collections.abc import Mapping

from conveyor.errors import ConfigError
from conveyor.features._expr_lexer import expression_error
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

__all__ = ["KINDS", "infer_kind", "kind_of_dtype", "kind_of_literal"]

KINDS = frozenset({"number", "bool", "string", "null", "any", "other"})
_NUMERIC = frozenset({"number", "bool", "null", "any"})
_BOOLEAN = frozenset({"bool", "null", "any"})
_ARTICLE = {
    "number": "a number",
    "bool": "a boolean",
    "string": "a string",
    "other": "a non-scalar value",
}


def kind_of_literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def kind_of_dtype(dtype: object) -> str:
    """The expression kind of a Polars dtype: number, bool, string, null, other (or any if not a dtype)."""
    import polars as pl

    is_dtype = isinstance(dtype, pl.DataType) or (
        isinstance(dtype, type) and issubclass(dtype, pl.DataType)
    )
    if not is_dtype:
        return "any"
    if dtype.is_numeric():  # type: ignore[union-attr]
        return "number"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        return "string"
    if dtype == pl.Null:
        return "null"
    return "other"


def infer_kind(node: Node, kinds: Mapping[str, str], *, text: str, source: str) -> str:
    """The kind ``node`` evaluates to, given the kinds of its columns.

    Raises:
        ConfigError: when an operator or function gets a value of a kind it cannot use.
    """
    return _Checker(kinds, text, source).kind(node)


class _Checker:
    def __init__(self, kinds: Mapping[str, str], text: str, source: str) -> None:
        self.kinds = kinds
        self.text = text
        self.source = source

    def fail(self, node: Node, problem: str) -> ConfigError:
        return expression_error(self.text, node.pos, problem, source=self.source)

    def need(self, node: Node, allowed: frozenset[str], what: str) -> str:
        kind = self.kind(node)
        if kind not in allowed:
            got = _ARTICLE.get(kind, kind)
            label = f"column '{node.name}' is {got}" if isinstance(node, Column) else f"got {got}"
            raise self.fail(node, f"{what}, but {label}")
        return kind

    def kind(self, node: Node) -> str:
        if isinstance(node, Literal):
            return kind_of_literal(node.value)
        if isinstance(node, Column):
            return self.kinds.get(node.name, "any")
        if isinstance(node, Unary):
            self.need(node.operand, _NUMERIC, f"unary '{node.op}' needs a number")
            return "number"
        if isinstance(node, Binary):
            self.need(node.left, _NUMERIC, f"'{node.op}' needs numbers")
            self.need(node.right, _NUMERIC, f"'{node.op}' needs numbers")
            return "number"
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Logical):
            self.need(node.left, _BOOLEAN, f"'{node.op}' needs true/false values")
            self.need(node.right, _BOOLEAN, f"'{node.op}' needs true/false values")
            return "bool"
        if isinstance(node, Not):
            self.need(node.operand, _BOOLEAN, "'not' needs a true/false value")
            return "bool"
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {node!r}")  # pragma: no cover - parser makes only the above

    def compare(self, node: Compare) -> str:
        left, right = self.kind(node.left), self.kind(node.right)
        known = {left, right} - {"any", "null"}
        if "string" in known and known & {"number", "bool"}:
            raise self.fail(node, f"'{node.op}' compares {_ARTICLE[left]} with {_ARTICLE[right]}")
        if "other" in known and len(known) > 1:
            raise self.fail(node, f"'{node.op}' compares values of different types")
        return "bool"

    def in_list(self, node: InList) -> str:
        kind = self.kind(node.operand)
        listed = {kind_of_literal(v) for v in node.values} - {"null"}
        if listed and kind not in {"any", "null"}:
            (item,) = listed
            compatible = kind == item or {kind, item} <= {"number", "bool"}
            if not compatible:
                raise self.fail(
                    node, f"'in' looks for {_ARTICLE.get(kind, kind)} in a list of {item} values"
                )
        return "bool"

    def call(self, node: Call) -> str:
        name, args = node.name, node.args
        if name in {"abs", "exp", "log", "log1p", "sqrt", "round", "clip", "min", "max"}:
            for arg in args:
                self.need(arg, _NUMERIC, f"{name}() needs numbers")
            return "number"
        if name == "is_null":
            self.kind(args[0])
            return "bool"
        if name == "if":
            self.need(args[0], _BOOLEAN, "if() needs a true/false condition")
            return self.same_kind(name, args[1:])
        if name == "coalesce":
            return self.same_kind(name, args)
        raise TypeError(f"unknown function {name}")  # pragma: no cover - parser checks names

    def same_kind(self, name: str, args: tuple[Node, ...]) -> str:
        result = "null"
        for arg in args:
            kind = self.kind(arg)
            if kind == "null":
                continue
            if kind == "any":
                result = "any" if result == "null" else result
                continue
            if result in {"null", "any"}:
                result = kind
            elif kind != result:
                raise self.fail(
                    arg,
                    f"{name}() mixes {_ARTICLE.get(result, result)} with {_ARTICLE.get(kind, kind)}",
                )
        return result
