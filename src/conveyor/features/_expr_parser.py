"""Pratt parser of the expression grammar.

Precedence, loosest first::

    or
    and
    not                      (prefix)
    < <= > >= == != in, not in  (no chaining: ``a < b < c`` is an error)
    + -
    * / %
    unary -  +
    **                       (right-associative; ``-2 ** 2`` is -4, as in Python)
    atoms: number, 'string', name, `quoted name`, true, false, null, (expr), f(args)
"""

from __future__ import annotations

import difflib

from conveyor.errors import ConfigError
from conveyor.features._expr_lexer import Token, expression_error, tokenize
from conveyor.features._expr_nodes import (
    FUNCTIONS,
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
    children,
)

__all__ = ["MAX_DEPTH", "MAX_NESTING", "parse"]

MAX_NESTING = 50  # brackets, calls and prefix operators; bounds the parser's recursion
MAX_DEPTH = 200  # of the finished tree; bounds the recursion of everything that walks it

_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_ADDITIVE = frozenset({"+", "-"})
_MULTIPLICATIVE = frozenset({"*", "/", "%"})


def parse(text: str, *, source: str = "<expr>") -> Node:
    """Parse ``text`` into a syntax tree (no evaluation happens).

    Raises:
        ConfigError: on a syntax error, pointing at the column.
    """
    return _Parser(text, source).parse()


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.tokens = tokenize(text, source=source)
        self.i = 0
        self.depth = 0

    # ------------------------------------------------------------ helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, value: object = None) -> bool:
        tok = self.tok
        return tok.kind == kind and (value is None or tok.value == value)

    def error(self, tok: Token, problem: str, hint: str | None = None) -> ConfigError:
        if tok.kind == "END":
            return expression_error(
                self.text, len(self.text.rstrip()), "unexpected end", source=self.source, hint=hint
            )
        return expression_error(self.text, tok.pos, problem, source=self.source, hint=hint)

    def expect(self, kind: str, value: str, what: str) -> Token:
        if not self.at(kind, value):
            raise self.error(self.tok, f"expected {what} but found {self.tok.text!r}")
        return self.advance()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise expression_error(
                self.text, tok.pos, f"nests more than {MAX_NESTING} levels deep", source=self.source
            )

    # ------------------------------------------------------------ grammar

    def parse(self) -> Node:
        if self.at("END"):
            raise expression_error(self.text, 0, "is empty", source=self.source)
        node = self.expression()
        if not self.at("END"):
            tok = self.tok
            raise self.error(
                tok,
                f"unexpected {tok.text!r}",
                hint="two values need an operator between them"
                if tok.kind in {"NAME", "NUMBER", "STRING"}
                else None,
            )
        if _depth(node) > MAX_DEPTH:
            raise expression_error(
                self.text,
                0,
                f"is more than {MAX_DEPTH} operations deep",
                source=self.source,
                hint="split it into several derived features",
            )
        return node

    def expression(self) -> Node:
        self.enter(self.tok)
        try:
            return self.disjunction()
        finally:
            self.depth -= 1

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.at("KEYWORD", "or"):
            tok = self.advance()
            node = Logical(tok.pos, "or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.at("KEYWORD", "and"):
            tok = self.advance()
            node = Logical(tok.pos, "and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.at("KEYWORD", "not"):
            tok = self.advance()
            self.enter(tok)
            try:
                return Not(tok.pos, self.negation())
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Node:
        node = self.additive()
        tok = self.tok
        if tok.kind == "OP" and tok.value in _COMPARISONS:
            self.advance()
            node = Compare(tok.pos, str(tok.value), node, self.additive())
        elif tok.kind == "KEYWORD" and tok.value == "in":
            self.advance()
            node = InList(tok.pos, node, self.literal_list(), negated=False)
        elif tok.kind == "KEYWORD" and tok.value == "not" and self._next_is_in():
            self.advance()
            self.advance()
            node = InList(tok.pos, node, self.literal_list(), negated=True)
        else:
            return node
        nxt = self.tok
        if (nxt.kind == "OP" and nxt.value in _COMPARISONS) or (
            nxt.kind == "KEYWORD" and nxt.value == "in"
        ):
            raise self.error(
                nxt,
                "comparisons cannot be chained",
                hint="write 'a < b and b < c' instead of 'a < b < c'",
            )
        return node

    def _next_is_in(self) -> bool:
        nxt = self.tokens[self.i + 1]
        return nxt.kind == "KEYWORD" and nxt.value == "in"

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.tok.kind == "OP" and self.tok.value in _ADDITIVE:
            tok = self.advance()
            node = Binary(tok.pos, str(tok.value), node, self.multiplicative())
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self.tok.kind == "OP" and self.tok.value in _MULTIPLICATIVE:
            tok = self.advance()
            node = Binary(tok.pos, str(tok.value), node, self.unary())
        return node

    def unary(self) -> Node:
        if self.tok.kind == "OP" and self.tok.value in _ADDITIVE:
            tok = self.advance()
            self.enter(tok)
            try:
                return Unary(tok.pos, str(tok.value), self.unary())
            finally:
                self.depth -= 1
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.at("OP", "**"):
            tok = self.advance()
            self.enter(tok)
            try:
                # Right-associative, and the exponent may carry its own sign: 2 ** -1.
                return Binary(tok.pos, "**", base, self.unary())
            finally:
                self.depth -= 1
        return base

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "NUMBER" or tok.kind == "STRING":
            self.advance()
            return Literal(tok.pos, tok.value)
        if tok.kind == "KEYWORD" and tok.value in {"true", "false", "null"}:
            self.advance()
            return Literal(tok.pos, {"true": True, "false": False, "null": None}[str(tok.value)])
        if tok.kind == "NAME":
            self.advance()
            if self.at("OP", "(") and not tok.text.startswith("`"):
                return self.call(tok)
            return Column(tok.pos, str(tok.value))
        if tok.kind == "OP" and tok.value == "(":
            self.advance()
            node = self.expression()
            self.expect("OP", ")", "')' to close the '(' at column " + str(tok.pos + 1))
            return node
        if tok.kind == "OP" and tok.value == "[":
            raise self.error(tok, "a list is only allowed after 'in'", hint="write 'x in [1, 2]'")
        if tok.kind == "END":
            raise self.error(tok, "unexpected end")
        raise self.error(tok, f"expected a value but found {tok.text!r}")

    def call(self, name_tok: Token) -> Node:
        name = str(name_tok.value)
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name.lower(), list(FUNCTIONS), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise expression_error(
                self.text,
                name_tok.pos,
                f"unknown function '{name}'",
                source=self.source,
                hint=f"{hint}known functions: {', '.join(sorted(FUNCTIONS))}",
            )
        self.advance()  # '('
        self.enter(name_tok)
        try:
            args: list[Node] = []
            if not self.at("OP", ")"):
                args.append(self.expression())
                while self.at("OP", ","):
                    self.advance()
                    args.append(self.expression())
            self.expect("OP", ")", f"',' or ')' in the arguments of {name}()")
        finally:
            self.depth -= 1
        fewest, most = FUNCTIONS[name]
        if len(args) < fewest or (most is not None and len(args) > most):
            wanted = (
                str(fewest)
                if fewest == most
                else (f"at least {fewest}" if most is None else f"{fewest} to {most}")
            )
            raise expression_error(
                self.text,
                name_tok.pos,
                f"{name}() takes {wanted} argument{'s' if wanted != '1' else ''}, got {len(args)}",
                source=self.source,
            )
        if name == "round" and len(args) == 2:
            digits = args[1]
            if not (
                isinstance(digits, Literal)
                and type(digits.value) is int
                and 0 <= digits.value <= 15
            ):
                raise expression_error(
                    self.text,
                    digits.pos,
                    "round()'s digits must be a whole number from 0 to 15",
                    source=self.source,
                )
        return Call(name_tok.pos, name, tuple(args))

    def literal_list(self) -> tuple[object, ...]:
        open_tok = self.expect("OP", "[", "'[' to start the list after 'in'")
        values: list[object] = []
        kinds: set[str] = set()
        if not self.at("OP", "]"):
            while True:
                values.append(self.list_item(kinds))
                if not self.at("OP", ","):
                    break
                self.advance()
        self.expect("OP", "]", f"',' or ']' to close the list at column {open_tok.pos + 1}")
        return tuple(values)

    def list_item(self, kinds: set[str]) -> object:
        tok = self.tok
        sign = 1
        if tok.kind == "OP" and tok.value in _ADDITIVE:
            sign = -1 if tok.value == "-" else 1
            self.advance()
            if not self.at("NUMBER"):
                raise self.error(self.tok, "expected a number after the sign")
        tok = self.advance()
        if tok.kind == "NUMBER":
            value: object = sign * tok.value  # type: ignore[operator]
            kind = "number"
        elif tok.kind == "STRING":
            value, kind = tok.value, "string"
        elif tok.kind == "KEYWORD" and tok.value in {"true", "false"}:
            value, kind = tok.value == "true", "bool"
        elif tok.kind == "KEYWORD" and tok.value == "null":
            return None
        else:
            raise self.error(
                tok,
                f"list items must be literals (numbers, strings, true/false/null), found {tok.text!r}",
            )
        kinds.add(kind)
        if len(kinds) > 1:
            raise self.error(tok, f"list mixes {' and '.join(sorted(kinds))} values")
        return value


def _depth(root: Node) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children(node))
    return deepest
