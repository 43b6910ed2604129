"""Read ``conveyor.yaml``: YAML with line numbers, ``${env:}`` interpolation,
``-o key.path=value`` overrides, validation into :class:`ConveyorConfig`, and
masking of secrets for display and storage."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from conveyor.config.models import ConveyorConfig
from conveyor.errors import ConfigError

__all__ = [
    "MASK",
    "LoadedConfig",
    "apply_overrides",
    "config_fingerprint",
    "load_config",
    "parse_config",
]

MASK = "***"
_ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAME_RE = re.compile(r"(password|passwd|secret|token|api[_-]?key|credential)", re.I)
_URL_PASSWORD_RE = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?P<tail>@)", re.I
)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from and what must stay hidden."""

    config: ConveyorConfig
    path: Path | None
    raw: dict[str, Any]
    secret_paths: frozenset[Path_] = field(default_factory=frozenset)
    lines: Mapping[Path_, int] = field(default_factory=dict)
    env_values: frozenset[str] = field(default_factory=frozenset)
    """The values substituted from the environment (scrubbed from any text shown)."""

    @property
    def root(self) -> Path:
        """Directory relative paths in the config are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    def masked(self) -> dict[str, Any]:
        """The resolved config as plain data, with every secret replaced by ``***``."""
        data = self.config.model_dump(mode="json", by_alias=True, exclude_none=True)
        return mask_secrets(data, self.secret_paths | _declared_secret_paths(self.config))

    @property
    def fingerprint(self) -> str:
        return config_fingerprint(self.config)

    def secret_values(self) -> set[str]:
        """Every secret value, so that log and error text can be scrubbed."""
        data = self.config.model_dump(mode="json", by_alias=True)
        values: set[str] = {v for v in self.env_values if len(v) >= 3}
        for p in self.secret_paths | _declared_secret_paths(self.config):
            v = _get_path(data, p)
            if isinstance(v, str) and len(v) >= 3:
                values.add(v)
        return values

    def scrub(self, text: str) -> str:
        """Replace any secret value in ``text`` with ``***``."""
        for v in sorted(self.secret_values(), key=len, reverse=True):
            text = text.replace(v, MASK)
        return _URL_PASSWORD_RE.sub(lambda m: m["head"] + MASK + m["tail"], text)


def config_fingerprint(config: BaseModel | Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a config (or of one section)."""
    data = (
        config.model_dump(mode="json", by_alias=True) if isinstance(config, BaseModel) else config
    )
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def load_config(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Load, interpolate, override and validate a ``conveyor.yaml``.

    Example:
        >>> loaded = load_config("conveyor.yaml", ["split.test=0.2"])  # doctest: +SKIP
        >>> loaded.config.split.test  # doctest: +SKIP
        0.2
    """
    p = Path(path)
    if p.is_dir():
        p = p / "conveyor.yaml"
    if not p.exists():
        raise ConfigError(
            f"{p}: config file not found", hint="run 'conveyor init NAME' to create a project"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_config(text, source=p, overrides=overrides, env=env)


def parse_config(
    text: str,
    *,
    source: Path | str | None = None,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Like :func:`load_config` but from text (``source`` names it in errors)."""
    name = str(source) if source else "<config>"
    raw, lines = _parse_yaml(text, name)
    env = os.environ if env is None else env
    raw, from_env, env_values = _interpolate(raw, env, name, lines)
    raw, override_lines = apply_overrides(raw, overrides, name), None
    del override_lines
    try:
        config = ConveyorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, name, lines)) from None
    return LoadedConfig(
        config=config,
        path=Path(source) if isinstance(source, (str, Path)) and source else None,
        raw=raw,
        secret_paths=frozenset(from_env),
        lines=lines,
        env_values=frozenset(env_values),
    )


# ---------------------------------------------------------------- YAML with line numbers


def _parse_yaml(text: str, name: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    if not text.strip():
        raise ConfigError(
            f"{name}: the file is empty", hint="see 'conveyor config schema' for the keys"
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    if node is None:
        raise ConfigError(f"{name}: the file is empty")
    lines: dict[Path_, int] = {}
    data = _construct(node, (), lines, name)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}:{node.start_mark.line + 1}: expected a mapping of keys at the top level, "
            f"got {type(data).__name__}"
        )
    return data, lines


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int], name: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = (
                yaml.SafeLoader(  # scalar keys only
                    ""
                ).construct_object(key_node)
                if not isinstance(key_node, yaml.ScalarNode)
                else key_node.value
            )
            if not isinstance(key, str):
                raise ConfigError(f"{name}:{key_node.start_mark.line + 1}: keys must be text")
            if key == "<<":
                raise ConfigError(
                    f"{name}:{key_node.start_mark.line + 1}: YAML merge keys are not supported"
                )
            if key in out:
                raise ConfigError(
                    f"{name}:{key_node.start_mark.line + 1}: key '{_fmt((*path, key))}' appears twice"
                )
            out[key] = _construct(value_node, (*path, key), lines, name)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), lines, name) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}:{node.start_mark.line + 1}: {exc}") from None


# ---------------------------------------------------------------- env interpolation


def _interpolate(
    data: Any, env: Mapping[str, str], name: str, lines: Mapping[Path_, int]
) -> tuple[Any, set[Path_], set[str]]:
    from_env: set[Path_] = set()
    values: set[str] = set()

    def walk(value: Any, path: Path_) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:

            def repl(m: re.Match[str]) -> str:
                var, default = m.group(1), m.group(2)
                if var in env:
                    from_env.add(path)
                    values.add(env[var])
                    return env[var]
                if default is not None:
                    return default
                raise ConfigError(
                    f"{_where(name, lines, path)}: environment variable {var} is not set",
                    hint=f"export {var}=... or write ${{env:{var}:-default}}",
                )

            if "${" in _ENV_RE.sub("", value):
                raise ConfigError(
                    f"{_where(name, lines, path)}: cannot read '{value}': interpolation is "
                    "${env:NAME} or ${env:NAME:-default}"
                )
            return _ENV_RE.sub(repl, value)
        return value

    return walk(data, ()), from_env, values


# ---------------------------------------------------------------- overrides


def apply_overrides(
    raw: dict[str, Any], overrides: Iterable[str], name: str = "<config>"
) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are read as YAML scalars and typed by the schema."""
    data = json.loads(json.dumps(raw, default=str))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected KEY.PATH=VALUE, e.g. split.test=0.2")
        key, _, text = item.partition("=")
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"override '{item}': empty key path")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(node, list):
                if not isinstance(part, int) or part >= len(node):
                    raise ConfigError(
                        f"override '{key}': index {part} is out of range "
                        f"(the list has {len(node)} items)"
                    )
                node = node[part]
            else:
                if not isinstance(part, str):
                    raise ConfigError(f"override '{key}': '{_fmt(tuple(parts[:i]))}' is not a list")
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        last = parts[-1]
        if isinstance(node, list):
            if not isinstance(last, int) or last > len(node):
                raise ConfigError(f"override '{key}': index {last} is out of range")
            if last == len(node):
                node.append(value)
            else:
                node[last] = value
        elif isinstance(node, dict):
            node[str(last)] = value
        else:
            raise ConfigError(f"override '{key}': cannot set a key inside a {type(node).__name__}")
    return data


# ---------------------------------------------------------------- errors


def _format_validation(exc: ValidationError, name: str, lines: Mapping[Path_, int]) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _is_union_tag(p)))
        path_text = _fmt(loc) or "(top level)"
        where = _where(name, lines, loc)
        kind = err["type"]
        got = err.get("input")
        if kind == "extra_forbidden":
            field_name = str(loc[-1])
            choices = _fields_at(loc[:-1])
            guess = difflib.get_close_matches(field_name, choices, n=1, cutoff=0.6)
            parent = _fmt(loc[:-1]) or "the top level"
            msg = f"{where}: {path_text}: unknown key '{field_name}' in {parent}"
            if guess:
                msg += f" (did you mean '{guess[0]}'?)"
            elif choices:
                msg += f"; allowed: {', '.join(sorted(choices))}"
        elif kind == "missing":
            msg = f"{where}: {path_text}: required key is missing"
        else:
            text = err["msg"]
            if text.startswith("Value error, "):
                text = text[len("Value error, ") :]
            msg = f"{where}: {path_text}: {text}"
            if kind not in {"value_error", "assertion_error"} and not isinstance(got, (dict, list)):
                msg += f" (got {got!r})"
        msgs.append(msg)
    head = f"{name}: invalid configuration ({len(msgs)} problem{'s' if len(msgs) > 1 else ''})"
    return head + "\n" + "\n".join(f"  {m}" for m in msgs) if len(msgs) > 1 else msgs[0]


def _is_union_tag(part: str) -> bool:
    # pydantic puts the discriminator tag or the union member name in ``loc``.
    return part in {
        "drop_duplicates",
        "drop_missing",
        "fill_missing",
        "repair_types",
        "normalize_strings",
        "clip_outliers",
        "drop_columns",
    } or part.startswith(
        ("function-", "literal[", "list[", "dict[", "str", "int", "float", "bool", "tuple[", "none")
    )


def _fields_at(loc: Path_) -> list[str]:
    """Names (aliases) of the keys allowed at ``loc``, for 'did you mean'."""
    import typing

    from pydantic.fields import FieldInfo

    model: Any = ConveyorConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        fields: dict[str, FieldInfo] = model.model_fields
        match = next((f for n, f in fields.items() if (f.alias or n) == part or n == part), None)
        if match is None:
            return []
        model = _inner_model(match.annotation, typing)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _inner_model(annotation: Any, typing: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg, typing)
        if found is not None:
            return found
    return None


def _where(name: str, lines: Mapping[Path_, int], path: Path_) -> str:
    p = tuple(path)
    while p and p not in lines:
        p = p[:-1]
    line = lines.get(p)
    return f"{name}:{line}" if line else name


def _fmt(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------- masking


def _declared_secret_paths(config: ConveyorConfig) -> set[Path_]:
    paths: set[Path_] = {
        tuple(int(p) if p.isdigit() else p for p in s.split(".")) for s in config.secrets
    }
    data = config.model_dump(mode="json", by_alias=True)

    def walk(value: Any, path: Path_) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if _SECRET_NAME_RE.search(str(k)) and isinstance(v, str):
                    paths.add((*path, k))
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))

    walk(data, ())
    paths |= config.stores.secret_paths()  # credentials in storage_options, whatever their name
    return paths


def mask_secrets(data: Any, secret_paths: Iterable[Path_]) -> Any:
    """Return a copy of ``data`` with the values at ``secret_paths`` and any URL password masked."""
    secret = {tuple(p) for p in secret_paths}

    def walk(value: Any, path: Path_) -> Any:
        if path in secret and value is not None:
            return MASK
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str):
            return _URL_PASSWORD_RE.sub(lambda m: m["head"] + MASK + m["tail"], value)
        return value

    return walk(data, ())


def _get_path(data: Any, path: Path_) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
