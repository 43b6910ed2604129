"""Tokens of the expression grammar and the error that points at a column.

The grammar is tiny on purpose (see :mod:`conveyor.features.expressions`):
numbers, strings, names (dotted or backtick-quoted), keywords, operators and
brackets. Nothing here evaluates text.
"""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.errors import ConfigError

__all__ = ["KEYWORDS", "MAX_LENGTH", "Token", "expression_error", "tokenize"]

MAX_LENGTH = 10_000
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})

# Longest first, so that '**' wins over '*' and '<=' over '<'.
_OPERATORS = (
    "**",
    "<=",
    ">=",
    "==",
    "!=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    ">",
    "(",
    ")",
    "[",
    "]",
    ",",
)
_MISTAKES = {
    "&&": "use 'and'",
    "||": "use 'or'",
    "&": "use 'and'",
    "|": "use 'or'",
    "!": "use 'not'",
    "=": "use '==' to compare",
    "<>": "use '!='",
    "^": "use '**' for powers",
    "//": "there is no integer division; use round(a / b) or a % b",
}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_DIGITS = frozenset("0123456789")
_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` is NUMBER, STRING, NAME, KEYWORD, OP or END."""

    kind: str
    value: object
    pos: int
    text: str = ""


def expression_error(
    text: str,
    pos: int,
    problem: str,
    *,
    source: str,
    hint: str | None = None,
    suggestion: str | None = None,
) -> ConfigError:
    """A :class:`ConfigError` naming the expression and pointing at ``pos`` with a caret.

    ``suggestion`` (e.g. "did you mean 'tenure'?") goes in brackets after the column.
    """
    prefix = "" if source == "<expr>" else f"{source}: "
    pos = max(0, min(pos, len(text)))
    quoted = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
    # Long texts are shown as a window around the problem so the caret stays readable.
    start = max(0, pos - _SHOWN // 2) if len(text) > _SHOWN else 0
    window = text[start : start + _SHOWN]
    lead = "…" if start else ""
    tail = "…" if start + _SHOWN < len(text) else ""
    shown = "".join(" " if ch in "\t\r\n" else ch for ch in window)
    caret = " " * (len(lead) + pos - start) + "^"
    extra = f" ({suggestion})" if suggestion else ""
    message = (
        f"{prefix}expression {quoted!r}: {problem} at column {pos + 1}{extra}\n"
        f"    {lead}{shown}{tail}\n"
        f"    {caret}"
    )
    return ConfigError(message, hint=hint)


def tokenize(text: str, *, source: str = "<expr>") -> list[Token]:
    """Split ``text`` into tokens; the last one is always ``END``.

    Raises:
        ConfigError: on a character or literal the grammar does not know.
    """
    if len(text) > MAX_LENGTH:
        raise expression_error(
            text[:60] + "…",
            0,
            f"is {len(text)} characters long; the limit is {MAX_LENGTH}",
            source=source,
        )
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            token, i = _number(text, i, source)
            tokens.append(token)
        elif ch in "'\"":
            token, i = _string(text, i, source)
            tokens.append(token)
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise expression_error(text, i, "unterminated `quoted name`", source=source)
            if end == i + 1:
                raise expression_error(text, i, "empty `quoted name`", source=source)
            tokens.append(Token("NAME", text[i + 1 : end], i, text[i : end + 1]))
            i = end + 1
        elif ch.isalpha() or ch == "_":
            token, i = _name(text, i, source)
            tokens.append(token)
        else:
            token, i = _operator(text, i, source)
            tokens.append(token)
    tokens.append(Token("END", None, n))
    return tokens


def _number(text: str, i: int, source: str) -> tuple[Token, int]:
    start, n = i, len(text)
    while i < n and text[i] in _DIGITS:
        i += 1
    is_int = True
    if i < n and text[i] == ".":
        is_int = False
        i += 1
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j] in _DIGITS:
            is_int = False
            i = j
            while i < n and text[i] in _DIGITS:
                i += 1
        else:
            raise expression_error(text, i, "malformed exponent in number", source=source)
    if i < n and (text[i].isalnum() or text[i] in "_.`"):
        raise expression_error(
            text, start, f"malformed number {text[start : i + 1]!r}", source=source
        )
    literal = text[start:i]
    value: int | float = int(literal) if is_int else float(literal)
    return Token("NUMBER", value, start, literal), i


def _string(text: str, i: int, source: str) -> tuple[Token, int]:
    quote, start, n = text[i], i, len(text)
    i += 1
    chars: list[str] = []
    while i < n:
        ch = text[i]
        if ch == quote:
            return Token("STRING", "".join(chars), start, text[start : i + 1]), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            escaped = _ESCAPES.get(text[i + 1])
            if escaped is None:
                raise expression_error(
                    text,
                    i,
                    f"unknown escape '\\{text[i + 1]}'",
                    source=source,
                    hint="known escapes: \\\\ \\' \\\" \\n \\t",
                )
            chars.append(escaped)
            i += 2
            continue
        chars.append(ch)
        i += 1
    raise expression_error(text, start, "unterminated string", source=source)


def _name(text: str, i: int, source: str) -> tuple[Token, int]:
    start, n = i, len(text)
    while True:
        while i < n and (text[i].isalnum() or text[i] == "_"):
            i += 1
        # A dot joins name segments (``performance.accuracy``); the next one must be a name.
        if i < n and text[i] == ".":
            if i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == "_"):
                i += 1
                continue
            raise expression_error(text, i + 1, "expected a name after '.'", source=source)
        break
    word = text[start:i]
    if word.lower() in KEYWORDS:
        return Token("KEYWORD", word.lower(), start, word), i
    return Token("NAME", word, start, word), i


def _operator(text: str, i: int, source: str) -> tuple[Token, int]:
    for mistake, hint in _MISTAKES.items():
        if text.startswith(mistake, i) and not any(
            text.startswith(op, i) and len(op) >= len(mistake) for op in _OPERATORS
        ):
            raise expression_error(
                text, i, f"unknown operator {mistake!r}", source=source, hint=hint
            )
    for op in _OPERATORS:
        if text.startswith(op, i):
            return Token("OP", op, i, op), i + len(op)
    raise expression_error(text, i, f"unexpected character {text[i]!r}", source=source)
