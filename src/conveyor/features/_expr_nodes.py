"""The syntax tree of the expression grammar: a few frozen node types, each with its position."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FUNCTIONS",
    "Binary",
    "Call",
    "Column",
    "Compare",
    "InList",
    "Literal",
    "Logical",
    "Node",
    "Not",
    "Unary",
    "children",
]

# name -> (fewest, most) arguments; None means no upper limit.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "clip": (3, 3),
    "coalesce": (1, None),
    "exp": (1, 1),
    "if": (3, 3),
    "is_null": (1, 1),
    "log": (1, 1),
    "log1p": (1, 1),
    "max": (1, None),
    "min": (1, None),
    "round": (1, 2),
    "sqrt": (1, 1),
}


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: object  # int | float | str | bool | None


@dataclass(frozen=True, slots=True)
class Column(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # '-' or '+'
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * / % **
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logical(Node):
    op: str  # 'and' | 'or'
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class InList(Node):
    operand: Node
    values: tuple[object, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, Unary | Not | InList):
        return (node.operand,)
    if isinstance(node, Binary | Compare | Logical):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()
