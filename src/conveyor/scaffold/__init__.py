"""``conveyor init``: write a runnable starter project."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

from conveyor.errors import ConfigError

__all__ = ["create_project"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def create_project(name: str, target: Path, *, force: bool = False) -> Path:
    """Create a project called ``name`` in ``target`` from the bundled template."""
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"project name '{name}' is not valid: use letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    target = target.resolve()
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} exists and is not empty", hint="choose another name or pass --force"
        )
    template = resources.files("conveyor.scaffold") / "template"
    target.mkdir(parents=True, exist_ok=True)
    with resources.as_file(template) as src:
        for path in sorted(Path(src).rglob("*")):
            rel = path.relative_to(src)
            if "__pycache__" in rel.parts:
                continue
            dest = target / rel
            if path.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            elif path.suffix in {".yaml", ".md"}:
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(
                    path.read_text(encoding="utf-8").replace("{name}", name), encoding="utf-8"
                )
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
    return target
