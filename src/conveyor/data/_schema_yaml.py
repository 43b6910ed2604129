"""YAML text of a dataset schema: a readable dump, and parsing with line numbers.

The schema file is meant to be edited by hand, so errors in it are reported
the way the config loader reports them: ``schema.yaml:14: columns[2]
(tenure).dtype: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from conveyor.data._columns import nearest_name
from conveyor.errors import ConfigError

__all__ = ["dump_schema_yaml", "format_schema_errors", "load_yaml_with_lines"]

Path_ = tuple[str | int, ...]

HEADER = """\
# Conveyor dataset schema (format_version {version}).
# Written by 'validate' from {rows} rows; later runs check new data against it.
# Edit it by hand, then re-run. Per column:
#   dtype       int | float | bool | str | category | text | date | datetime
#   role        feature | target | id | ignore   (ignore: the column is never checked)
#   nullable    false -> any missing value is a violation (null_in_required)
#   null_rate   share of missing values seen; a rise above it by more than
#               validate.null_rate_tolerance is a violation (null_rate_jump)
#   min, max    allowed numeric range, widened by validate.range_tolerance; null = unchecked
#   categories  allowed values with the share each had; any other value is
#               'unseen_category'. Add a value with any share (e.g. 0); null = unchecked
#   unique      true -> repeated values are a violation (duplicate_id)
# A new column needs only 'name' and 'dtype'. Quote values YAML would read as
# something else: 'yes', 'no', 'null', '1.0'.
"""


def dump_schema_yaml(data: Mapping[str, Any]) -> str:
    """The schema as commented YAML, one blank line between columns."""
    head = {k: v for k, v in data.items() if k != "columns"}
    body = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=float("inf"))
    cols = yaml.safe_dump(
        {"columns": list(data["columns"])}, sort_keys=False, allow_unicode=True, width=float("inf")
    )
    # Only column entries start at column 0 with "- "; nested lines are indented,
    # so a blank line there cannot split a value.
    cols = cols.replace("\n- name:", "\n\n- name:")
    header = HEADER.format(version=data.get("format_version"), rows=data.get("rows"))
    return header + body + cols


def load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML safely, remembering the line of every key and item."""
    if not text.strip():
        raise ConfigError(
            f"{source}: the schema file is empty", hint="delete it to infer a new one"
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    if node is None:
        raise ConfigError(
            f"{source}: the schema file is empty", hint="delete it to infer a new one"
        )
    lines: dict[Path_, int] = {}
    return _construct(node, (), lines, source), lines


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int], source: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: keys must be plain values"
                )
            key = yaml.SafeLoader("").construct_object(key_node)
            if key == "<<":
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: YAML merge keys are not supported"
                )
            if key in out:
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: key {key!r} appears twice in "
                    f"{format_path(path) or 'the top level'}"
                )
            out[key] = _construct(value_node, (*path, str(key)), lines, source)
            lines[(*path, str(key))] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), lines, source) for i, v in enumerate(node.value)]
    try:
        return yaml.SafeLoader("").construct_object(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}:{node.start_mark.line + 1}: {exc}") from None


def format_schema_errors(
    exc: ValidationError,
    *,
    source: str,
    lines: Mapping[Path_, int],
    data: Any,
    models: Mapping[str, type[BaseModel]],
) -> str:
    """One line per pydantic error, with file, line, key path and column name.

    ``models`` maps the top-level key holding items of a nested model (``columns``)
    to that model, so unknown keys get a 'did you mean'.
    """
    msgs = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc and loc[-1] == "[key]":
            # pydantic marks a bad mapping key so, and shows a YAML ``yes`` key as 1.
            loc = (*loc[:-2], str(err.get("input")))
        where = _where(source, lines, loc)
        path_text = _describe(loc, data) or "(top level)"
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            owner = models.get(str(loc[0])) if len(loc) > 2 else models.get("")
            allowed = list(owner.model_fields) if owner else []
            guess = nearest_name(key, allowed)
            msg = f"{where}: {path_text}: unknown key '{key}'"
            msg += f" (did you mean '{guess}'?)" if guess else f"; allowed: {', '.join(allowed)}"
        elif err["type"] == "missing":
            msg = f"{where}: {path_text}: required key is missing"
        else:
            text = err["msg"].removeprefix("Value error, ")
            msg = f"{where}: {path_text}: {text}"
            got = err.get("input")
            if err["type"] != "value_error" and not isinstance(got, (dict, list)):
                msg += f" (got {got!r})"
        msgs.append(msg)
    if len(msgs) == 1:
        return msgs[0]
    return f"{source}: invalid schema ({len(msgs)} problems)\n" + "\n".join(f"  {m}" for m in msgs)


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(loc: Path_, data: Any) -> str:
    """``columns[2] (tenure).dtype``: the column's name makes the path findable."""
    text = format_path(loc)
    if len(loc) >= 2 and loc[0] == "columns" and isinstance(loc[1], int) and isinstance(data, dict):
        cols = data.get("columns")
        if isinstance(cols, list) and loc[1] < len(cols) and isinstance(cols[loc[1]], dict):
            name = cols[loc[1]].get("name")
            if name is not None:
                head = format_path(loc[:2])
                text = f"{head} ({name})" + text[len(head) :]
    return text


def _where(source: str, lines: Mapping[Path_, int], loc: Path_) -> str:
    path: Path_ = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    while path and path not in lines:
        path = path[:-1]
    line = lines.get(path)
    return f"{source}:{line}" if line else source
