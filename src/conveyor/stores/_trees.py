"""Tree manifests: a directory stored as one blob per file plus a JSON manifest.

The manifest (format version 1) is canonical JSON, so the same directory
always gets the same digest::

    {"conveyor_tree":1,"files":{"model.skops":{"digest":"…","size":1234},…}}

Relative paths are POSIX, and are validated on the way out as carefully as on
the way in: a manifest is data from storage and may have been tampered with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from conveyor.errors import StoreError
from conveyor.stores._digests import validate_digest

__all__ = [
    "MANIFEST_PREFIX",
    "TREE_FORMAT",
    "TreeEntry",
    "decode_manifest",
    "encode_manifest",
    "validate_relpath",
]

TREE_FORMAT = 1
MANIFEST_PREFIX = b'{"conveyor_tree":'
"""Every manifest starts with these bytes (keys are sorted), a cheap tree test."""


@dataclass(frozen=True)
class TreeEntry:
    digest: str
    size: int


def validate_relpath(relpath: object) -> str:
    """Return ``relpath`` if it is a safe relative POSIX path inside a tree."""
    problem = None
    if not isinstance(relpath, str) or not relpath:
        problem = "it is empty or not text"
    elif "\x00" in relpath or "\\" in relpath:
        problem = "it contains a NUL byte or a backslash"
    elif relpath.startswith("/") or (len(relpath) > 1 and relpath[1] == ":"):
        problem = "it is absolute"
    elif any(part in ("", ".", "..") for part in relpath.split("/")):
        problem = "it has an empty, '.' or '..' component"
    if problem is not None:
        raise StoreError(f"tree path {relpath!r} is not allowed: {problem}")
    return str(relpath)


def encode_manifest(files: dict[str, TreeEntry]) -> bytes:
    document = {
        "conveyor_tree": TREE_FORMAT,
        "files": {
            validate_relpath(rel): {"digest": entry.digest, "size": entry.size}
            for rel, entry in files.items()
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode_manifest(data: bytes, digest: str) -> dict[str, TreeEntry]:
    """Parse and validate a manifest blob (``digest`` is only used in messages)."""
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"artifact {digest} is not a tree manifest: {exc}") from exc
    if not isinstance(document, dict) or "conveyor_tree" not in document:
        raise StoreError(f"artifact {digest} is not a tree manifest (no 'conveyor_tree' key)")
    version = document["conveyor_tree"]
    if version != TREE_FORMAT:
        raise StoreError(
            f"tree {digest} has manifest format {version!r}; this Conveyor reads format "
            f"{TREE_FORMAT}",
            hint="upgrade Conveyor to read trees written by a newer version",
        )
    files = document.get("files")
    if not isinstance(files, dict):
        raise StoreError(f"tree {digest}: 'files' must be an object")
    entries: dict[str, TreeEntry] = {}
    seen: set[PurePosixPath] = set()
    for rel, entry in files.items():
        validate_relpath(rel)
        if not isinstance(entry, dict) or not isinstance(entry.get("size"), int):
            raise StoreError(f"tree {digest}: entry {rel!r} must have a digest and an integer size")
        # "a/b" and "a/b/c" cannot both be files; catch it before touching the disk.
        path = PurePosixPath(rel)
        if path in seen or any(parent in seen for parent in path.parents):
            raise StoreError(f"tree {digest}: entry {rel!r} clashes with another entry")
        seen.add(path)
        entries[rel] = TreeEntry(digest=validate_digest(entry.get("digest")), size=entry["size"])
    for path in seen:
        if any(parent in seen for parent in path.parents):
            raise StoreError(f"tree {digest}: entry {str(path)!r} clashes with another entry")
    return entries
