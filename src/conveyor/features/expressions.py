"""A small, safe expression language for derived features, fallback rules and triggers.

Nothing is ever passed to ``eval``, ``compile`` or Python's ``ast``: text is
tokenized and parsed by hand into a tree of a few node types, which is then
either translated into a Polars expression (batches) or compiled into nested
closures (one record at a time). Both give the same result for the same
input; see :mod:`conveyor.features._expr_scalar` for the shared semantics.

Grammar::

    numbers     1  2.5  1e-3            strings   'a'  "b"  (escapes \\\\ \\' \\" \\n \\t)
    names       tenure  performance.accuracy  `monthly charges`
    literals    true  false  null       (keywords are case-insensitive)
    arithmetic  + - * / % **  unary -   (all in 64-bit floats; ** is right-associative)
    comparison  < <= > >= == !=  x in [1, 2]  x not in ['a', 'b']
    logic       and  or  not            (three-valued: null means unknown)
    functions   abs exp log log1p sqrt round(x[, digits]) clip(x, lo, hi)
                min(a, ...) max(a, ...) if(cond, a, b) coalesce(a, ...) is_null(x)

Example:
    >>> expr = parse_expression("total_charges / (tenure + 1)")
    >>> sorted(expr.columns)
    ['tenure', 'total_charges']
    >>> expr.evaluate({"total_charges": 100.0, "tenure": 3})
    25.0
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from conveyor.features._expr_lexer import expression_error
from conveyor.features._expr_nodes import FUNCTIONS, Column, Node, children
from conveyor.features._expr_parser import parse
from conveyor.features._expr_scalar import compile_scalar
from conveyor.features._expr_types import KINDS, infer_kind, kind_of_dtype
from conveyor.features._suggest import preview

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FUNCTIONS", "KINDS", "Expr", "kind_of_dtype", "parse_expression"]


def parse_expression(text: str, *, source: str = "<expr>") -> Expr:
    """Parse ``text`` into an :class:`Expr`.

    Args:
        text: the expression, e.g. ``"total / (tenure + 1)"``.
        source: where the text came from, used as the prefix of error messages
            (e.g. ``"conveyor.yaml: features.derived.charge_rate"``).

    Raises:
        ConfigError: on a syntax error, an unknown function or a wrong number of
            arguments; the message points at the column with a caret.
    """
    if not isinstance(text, str):
        raise expression_error(
            str(text), 0, f"must be text, not {type(text).__name__}", source=source
        )
    return Expr(text, parse(text, source=source), source=source)


class Expr:
    """A parsed expression: inspect its columns, check it, run it on a frame or a record."""

    __slots__ = ("_columns", "_positions", "_scalar", "source", "text", "tree")

    def __init__(self, text: str, tree: Node, *, source: str = "<expr>") -> None:
        self.text = text
        self.tree = tree
        self.source = source
        self._positions: dict[str, int] = {}
        stack = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, Column):
                first = self._positions.get(node.name)
                if first is None or node.pos < first:
                    self._positions[node.name] = node.pos
            stack.extend(children(node))
        self._columns = frozenset(self._positions)
        self._scalar = compile_scalar(tree, text=text)

    @property
    def columns(self) -> set[str]:
        """The names of the columns (or record keys) the expression reads."""
        return set(self._columns)

    def position(self, column: str) -> int:
        """Index (0-based) in :attr:`text` of the first use of ``column``.

        Raises:
            KeyError: if the expression does not read ``column``.
        """
        return self._positions[column]

    def check_columns(self, available: Iterable[str], *, source: str | None = None) -> None:
        """Raise :class:`ConfigError` if the expression reads a column not in ``available``.

        The message points at the first use of the unknown column and suggests
        the closest available name.
        """
        known = list(available)
        known_set = set(known)
        missing = sorted((self._positions[c], c) for c in self._columns if c not in known_set)
        if not missing:
            return
        pos, name = missing[0]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        raise expression_error(
            self.text,
            pos,
            f"refers to unknown column '{name}'",
            source=source or self.source,
            suggestion=f"did you mean '{close[0]}'?" if close else None,
            hint=None if close else f"available columns: {preview(known)}",
        )

    def check_types(self, kinds: Mapping[str, str], *, source: str | None = None) -> str:
        """Check operand types against column kinds and return the result's kind.

        Args:
            kinds: column -> one of ``number``, ``bool``, ``string``, ``null``,
                ``other`` (see :func:`kind_of_dtype`); unlisted columns are ``any``.

        Raises:
            ConfigError: e.g. ``'+' needs numbers, but column 'contract' is a string``.
        """
        return infer_kind(self.tree, kinds, text=self.text, source=source or self.source)

    def to_polars(self, kinds: Mapping[str, str] | None = None) -> pl.Expr:
        """A vectorised Polars expression (not aliased); ``kinds`` refines numeric casts."""
        from conveyor.features._expr_polars import compile_polars

        return compile_polars(self.tree, kinds)

    def evaluate(self, record: Mapping[str, Any]) -> Any:
        """Evaluate on one record (a mapping of column -> value); missing keys are null.

        Returns ``None`` for null, a ``float`` for arithmetic, a ``bool`` for
        conditions, or the value a column / literal / ``if`` passes through.

        Raises:
            DataError: when a value has the wrong type for its operator.
        """
        return self._scalar(record)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other.tree == self.tree

    def __hash__(self) -> int:
        return hash(self.tree)
