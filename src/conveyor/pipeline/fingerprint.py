"""Step fingerprints: what a step's result depends on, hashed.

fingerprint = sha256(step name, step version, project-level settings, the
step's config section, input artifact digests, stat of external files,
source of referenced user code). An unchanged fingerprint means the stored
outputs of the earlier run can be reused as they are.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from conveyor.config.models import ConveyorConfig
    from conveyor.pipeline.step import Step

__all__ = ["file_stamp", "step_fingerprint", "user_code_hash"]

# Anything in the project header changes what every step means.
_PROJECT_KEYS = ("task", "target", "id_column", "positive_class", "seed")


def step_fingerprint(
    step: Step,
    config: ConveyorConfig,
    *,
    root: Path,
    inputs: Mapping[str, str],
) -> str:
    section = step.config_section(config)
    if hasattr(section, "model_dump"):
        section = section.model_dump(mode="json", by_alias=True)
    elif isinstance(section, (list, tuple)):
        section = [
            s.model_dump(mode="json", by_alias=True) if hasattr(s, "model_dump") else s
            for s in section
        ]
    payload: dict[str, Any] = {
        "step": step.name,
        "version": step.version,
        "project": {k: _jsonable(getattr(config, k)) for k in _PROJECT_KEYS},
        "section": section,
        "inputs": dict(sorted(inputs.items())),
        "files": [file_stamp(p, root=root) for p in step.external_files(config, root)],
        "code": [user_code_hash(ref) for ref in sorted(step.code_refs(config))],
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_stamp(path: Path, *, root: Path) -> list[Any]:
    """(relative path, size, mtime in ns) — cheap, and changes whenever the file does."""
    try:
        rel = str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        rel = str(path.resolve())
    try:
        st = path.stat()
    except FileNotFoundError:
        return [rel, None, None]
    return [rel, st.st_size, st.st_mtime_ns]


def user_code_hash(ref: str) -> str:
    """Hash of the source file of ``package.module:Name`` (so editing user code invalidates the cache)."""
    module = ref.split(":", 1)[0]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"cannot import '{module}' (from '{ref}'): {exc}") from exc
    if spec is None or not spec.origin or not Path(spec.origin).exists():
        # Built-in or namespace modules: the import path itself is the best we have.
        return hashlib.sha256(ref.encode()).hexdigest()
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def digest_list(values: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(values).encode()).hexdigest()
