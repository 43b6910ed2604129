"""Names, aliases and references: validation and parsing.

A reference names a model and optionally a version or an alias::

    churn            the champion
    churn@champion   an alias
    churn:3          a version (``churn:v3`` too)
    churn@latest     the highest version (unless an alias is called ``latest``)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from conveyor.errors import ModelError

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "LATEST",
    "ParsedRef",
    "did_you_mean",
    "parse_ref",
    "parse_version",
    "show_versions",
    "validate_alias",
    "validate_model_name",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
LATEST = "latest"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_VERSION = re.compile(r"[vV]?([0-9]{1,9})")


@dataclass(frozen=True)
class ParsedRef:
    """A parsed reference: the model name and either a version or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a valid model name (letters, digits, ``_.-``; up to 200)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ModelError(
            f"model name {name!r} is not valid: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 200 characters)"
        )
    return name


def validate_alias(alias: object) -> str:
    """Return ``alias`` if it is a valid alias (lowercase, not a version number)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or _VERSION.fullmatch(alias):
        raise ModelError(
            f"alias {alias!r} is not valid: use lowercase letters, digits, '_' or '-', starting "
            "with a letter, and not a version like 'v3'"
        )
    return alias


def parse_version(ref: object) -> int | None:
    """The version number in ``3``, ``"3"`` or ``"v3"``; None when ``ref`` is not a version."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str):
        match = _VERSION.fullmatch(ref.strip())
        if match:
            return int(match.group(1))
    return None


def parse_ref(text: str) -> ParsedRef:
    """Parse ``name``, ``name@alias``, ``name:3`` or ``name:v3`` (bare name means the champion).

    Example:
        >>> parse_ref("churn@challenger")
        ParsedRef(name='churn', version=None, alias='challenger')
        >>> parse_ref("churn:v3")
        ParsedRef(name='churn', version=3, alias=None)
    """
    if not isinstance(text, str) or not text.strip():
        raise ModelError(f"model reference {text!r} is empty; use 'name', 'name@alias' or 'name:3'")
    text = text.strip()
    if "@" in text:
        name, _, alias = text.partition("@")
        return ParsedRef(validate_model_name(name), alias=validate_alias(alias))
    if ":" in text:
        name, _, version = text.partition(":")
        number = parse_version(version)
        if number is None:
            raise ModelError(
                f"model reference {text!r}: {version!r} is not a version number "
                f"(use '{name}:3' or '{name}@alias')"
            )
        return ParsedRef(validate_model_name(name), version=number)
    return ParsedRef(validate_model_name(text), alias=CHAMPION)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def show_versions(versions: Sequence[int], *, limit: int = 20) -> str:
    """Versions as compact text: ``1-5, 7, 9`` (newest ranges kept when too many)."""
    if not versions:
        return "none"
    ordered = sorted(set(versions))
    ranges: list[str] = []
    start = prev = ordered[0]
    for v in [*ordered[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    if len(ranges) > limit:
        ranges = ["…", *ranges[-limit:]]
    return ", ".join(ranges)
