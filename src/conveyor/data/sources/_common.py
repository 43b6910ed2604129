"""What every source reader shares: column-name hygiene, column selection,
record extraction from JSON documents, struct flattening and the type check
that decides whether frames may be stacked."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from conveyor.data.sources._paths import preview
from conveyor.errors import DataError

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
Progress = Callable[[str, "float | None"], None]


@dataclass
class SourceRead:
    """A source's frame plus remarks worth showing the user (not errors)."""

    frame: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def no_progress(_label: str, _fraction: float | None) -> None:
    return None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


# ---------------------------------------------------------------- column names


def clean_names(raw: Sequence[str], where: str) -> list[str]:
    """Strip whitespace from column names; duplicates (before or after stripping) are an error."""
    stripped = [str(n).strip() for n in raw]
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(stripped):
        positions.setdefault(name, []).append(i + 1)
    dups = {n: pos for n, pos in positions.items() if len(pos) > 1}
    if dups:
        parts = "; ".join(f"{n!r} at columns {', '.join(map(str, pos))}" for n, pos in dups.items())
        raise DataError(
            f"{where}: duplicate column names (after trimming spaces): {parts}",
            hint="rename the columns so that each name is unique",
        )
    return stripped


def check_columns(available: Sequence[str], wanted: Sequence[str] | None, where: str) -> None:
    """Fail naming every requested column that the data does not have."""
    if not wanted:
        return
    missing = [c for c in wanted if c not in available]
    if missing:
        hints = "".join(did_you_mean(m, available) for m in missing[:3])
        raise DataError(
            f"{where}: columns {preview(missing)} not found{hints}; available: {preview(list(available))}",
            hint="fix 'columns' in the source config",
        )


def select_columns(frame: pl.DataFrame, wanted: Sequence[str] | None, where: str) -> pl.DataFrame:
    check_columns(frame.columns, wanted, where)
    return frame.select(list(wanted)) if wanted else frame


# ---------------------------------------------------------------- JSON records


def records_at(document: Any, records_path: str | None, where: str) -> list[Any]:
    """The list of records inside a parsed JSON document.

    Without ``records_path`` the document must itself be a list. With it, each
    dotted part descends one object level; a missing key names the keys that
    were there instead.
    """
    node = document
    walked: list[str] = []
    for part in records_path.split(".") if records_path else []:
        if isinstance(node, dict) and part in node:
            node = node[part]
            walked.append(part)
            continue
        at = ".".join(walked) or "the top level"
        if isinstance(node, dict):
            raise DataError(
                f"{where}: records_path {records_path!r}: no key {part!r} at {at}; "
                f"keys found: {preview(sorted(map(str, node)))}{did_you_mean(part, map(str, node))}",
                hint="set 'records_path' to the dotted path of the list of records",
            )
        raise DataError(
            f"{where}: records_path {records_path!r}: expected an object at {at}, "
            f"got {_json_kind(node)}"
        )
    if isinstance(node, list):
        return node
    if isinstance(node, dict):
        lists = _list_paths(node, records_path)
        suggestion = (
            f"set records_path to one of {preview(lists, limit=5)}"
            if lists
            else "set 'records_path' to the dotted path of the list of records"
        )
        raise DataError(
            f"{where}: expected a list of records"
            f"{' at ' + repr(records_path) if records_path else ''}, got an object with keys "
            f"{preview(sorted(map(str, node)))}",
            hint=suggestion,
        )
    raise DataError(f"{where}: expected a list of records, got {_json_kind(node)}")


def _list_paths(node: dict[str, Any], prefix: str | None, depth: int = 3) -> list[str]:
    """Dotted paths (below ``prefix``) of the lists inside ``node``, nearest first."""
    found: list[str] = []
    level: list[tuple[str | None, dict[str, Any]]] = [(prefix, node)]
    for _ in range(depth):
        deeper: list[tuple[str | None, dict[str, Any]]] = []
        for path, obj in level:
            for key, value in obj.items():
                child = f"{path}.{key}" if path else str(key)
                if isinstance(value, list):
                    found.append(child)
                elif isinstance(value, dict):
                    deeper.append((child, value))
        level = deeper
    return found


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
    }.get(type(value), type(value).__name__)


def records_to_frame(records: list[Any], where: str) -> pl.DataFrame:
    """Records (JSON objects) to a frame; nested objects become ``parent.child`` columns.

    The schema is inferred from *all* records (a key that first appears late
    still becomes a column); a value whose type conflicts with the rest of its
    column is an error naming the record.
    """
    if not records:
        return pl.DataFrame()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"{where}: record {i} is {_json_kind(rec)}, expected an object")
    _check_shapes(records, where)
    try:
        frame = pl.from_dicts(records, infer_schema_length=None, strict=True)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError) as exc:
        raise DataError(
            f"{where}: records have conflicting value types: {first_line(exc)}"
        ) from exc
    return flatten_structs(frame, where)


def _check_shapes(records: list[dict[str, Any]], where: str) -> None:
    """Fail when a key holds an object in one record and a scalar or list in another.

    Polars would silently turn the odd values into nulls; scalars of different
    types (1 vs "x") are fine, they relax to text.
    """
    first: dict[str, tuple[str, int]] = {}

    def walk(obj: dict[str, Any], prefix: str, index: int) -> None:
        for key, value in obj.items():
            if value is None:
                continue
            name = f"{prefix}{key}"
            shape = (
                "an object"
                if isinstance(value, dict)
                else "a list"
                if isinstance(value, list)
                else "a value"
            )
            seen = first.setdefault(name, (shape, index))
            if seen[0] != shape:
                raise DataError(
                    f"{where}: records have conflicting value types: {name!r} is {seen[0]} in "
                    f"record {seen[1]} but {shape} in record {index}"
                )
            if isinstance(value, dict):
                walk(value, f"{name}.", index)

    for index, record in enumerate(records):
        walk(record, "", index)


def flatten_structs(frame: F, where: str = "the data") -> F:
    """Replace every struct column (at any depth) by ``parent.child`` columns.

    Names are whitespace-trimmed; a flattened name that collides with another
    column (a literal ``"b.c"`` key next to ``{"b": {"c": …}}``) is an error.
    """
    while True:
        schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
        names = list(schema.names())
        cleaned = clean_names(names, where)
        if cleaned != names:
            frame = frame.rename(dict(zip(names, cleaned)))
            continue
        structs = [n for n, dt in schema.items() if isinstance(dt, pl.Struct)]
        if not structs:
            return frame
        exprs: list[pl.Expr] = []
        for name, dtype in schema.items():
            if isinstance(dtype, pl.Struct):
                exprs.extend(
                    pl.col(name).struct.field(f.name).alias(f"{name}.{f.name.strip()}")
                    for f in dtype.fields
                )
            else:
                exprs.append(pl.col(name))
        clean_names([e.meta.output_name() for e in exprs], where)
        frame = frame.select(exprs)


# ---------------------------------------------------------------- stacking frames


def _family(dtype: pl.DataType) -> str:
    if dtype == pl.Null:
        return "null"
    if dtype == pl.Boolean or dtype.is_numeric():
        return "number"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "string"
    if dtype.is_temporal():
        return "time"
    if dtype.is_nested():
        return f"nested:{dtype.base_type()}"
    return str(dtype.base_type())


def _compatible(a: str, b: str) -> bool:
    if a == b or "null" in (a, b):
        return True
    # Text absorbs any scalar (a column that reads "n/a" in one file stays text);
    # numbers vs dates or nested values would be silently garbled, so those conflict.
    return "string" in (a, b) and not (a.startswith("nested") or b.startswith("nested"))


def check_stackable(schemas: Sequence[tuple[str, pl.Schema]], what: str) -> None:
    """Fail when a column's types across ``schemas`` cannot be relaxed to one type."""
    seen: dict[str, list[tuple[str, pl.DataType]]] = {}
    for label, schema in schemas:
        for col, dtype in schema.items():
            seen.setdefault(col, []).append((label, dtype))
    for col, entries in seen.items():
        families = {_family(dt) for _, dt in entries}
        if all(_compatible(a, b) for a in families for b in families):
            continue
        where = ", ".join(f"{label}: {dt}" for label, dt in entries)
        raise DataError(
            f"cannot combine {what}: column {col!r} has conflicting types ({where})",
            hint="make the column the same type in every input, or read it with 'columns' "
            "excluding it",
        )


def stack(frames: Sequence[tuple[str, pl.DataFrame]], what: str) -> pl.DataFrame:
    """Concatenate frames by column name; slightly different schemas are relaxed to a common type."""
    if len(frames) == 1:
        return frames[0][1]
    check_stackable([(label, f.schema) for label, f in frames], what)
    try:
        return pl.concat([f for _, f in frames], how="diagonal_relaxed")
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cannot combine {what}: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    """The headline of a foreign exception (Polars errors carry a long plan dump)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
