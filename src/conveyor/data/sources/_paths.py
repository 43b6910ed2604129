"""Which files a file source reads: paths and globs resolved against the config directory.

No Polars here: the runner lists these files to fingerprint a cached step without
loading any reader.
"""

from __future__ import annotations

import difflib
import glob as globlib
import os
from collections.abc import Sequence
from pathlib import Path

from conveyor.config.models import SourceConfig
from conveyor.errors import DataError

__all__ = ["FILE_KINDS", "GLOB_CHARS", "display_path", "preview", "source_files"]

FILE_KINDS = frozenset({"csv", "tsv", "parquet", "json", "jsonl", "excel"})
GLOB_CHARS = frozenset("*?[")


def display_path(path: Path, root: Path) -> str:
    """``path`` as the user wrote it: relative to the config directory when possible."""
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def preview(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def source_files(source: SourceConfig, *, root: Path) -> list[Path]:
    """The files a file source reads, glob expanded and sorted.

    Paths are relative to ``root`` (the config directory) unless absolute.
    The runner fingerprints these files by size and modification time.

    Raises:
        DataError: the file does not exist (near matches are listed), the
            path is a directory, or the glob matches no file.
    """
    if source.resolved_type not in FILE_KINDS or not source.path:
        raise DataError(
            f"source {source.name!r} is not a file source (type {source.resolved_type})"
        )
    pattern = source.path
    full = root / pattern
    if not GLOB_CHARS.intersection(pattern):
        if full.is_file():
            return [full]
        if full.is_dir():
            raise DataError(
                f"source {source.name!r}: {display_path(full, root)} is a folder, not a file",
                hint=f"use a glob such as '{pattern.rstrip('/')}/*.{_ext(source)}'",
            )
        raise DataError(
            f"source {source.name!r}: file not found: {display_path(full, root)}"
            f"{_nearby(full, root)}",
            hint="paths are relative to the folder of conveyor.yaml",
        )
    matches = sorted(Path(p) for p in globlib.glob(str(full), recursive=True) if Path(p).is_file())
    if not matches:
        folder = _glob_base(full)
        raise DataError(
            f"source {source.name!r}: the glob {pattern!r} matches no files{_nearby(folder / '*', root)}",
            hint="paths are relative to the folder of conveyor.yaml",
        )
    return matches


def _ext(source: SourceConfig) -> str:
    return {"excel": "xlsx"}.get(source.resolved_type or "", source.resolved_type or "csv")


def _glob_base(full: Path) -> Path:
    parts = []
    for part in full.parts:
        if GLOB_CHARS.intersection(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _nearby(missing: Path, root: Path) -> str:
    """' in data/: did you mean …' or a listing of what the folder holds."""
    folder = missing.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    shown = display_path(folder, root) + "/"
    if folder != missing.parent:
        return f" (folder {display_path(missing.parent, root)}/ does not exist; {shown} exists)"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    if not names:
        return f" (folder {shown} is empty)"
    close = difflib.get_close_matches(missing.name, names, n=3, cutoff=0.5)
    if close:
        return f"; near matches in {shown}: {preview(close)}"
    return f"; {shown} holds: {preview(names, limit=10)}"
