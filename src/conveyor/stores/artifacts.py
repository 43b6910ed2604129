"""The content-addressed artifact store: blobs named by their sha256, verified on read.

Content addressing, dedup, integrity checks, trees and garbage collection live
here once, on top of a tiny :class:`~conveyor.stores.ByteBackend`.

Example:
    >>> store = ArtifactStore.from_url("memory://", root=Path("."))
    >>> digest = store.put_bytes(b"hello")
    >>> store.get_bytes(digest)
    b'hello'
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from conveyor.errors import NotFound, StoreError
from conveyor.stores._backends import (
    CHUNK_SIZE,
    ByteBackend,
    FsspecBackend,
    LocalBackend,
    MemoryBackend,
)
from conveyor.stores._digests import DIGEST_PATTERN, digest_key, validate_digest
from conveyor.stores._remote import safe_url
from conveyor.stores._trees import MANIFEST_PREFIX, TreeEntry, decode_manifest, encode_manifest

__all__ = ["ArtifactStore", "GcResult"]


@dataclass(frozen=True)
class GcResult:
    """What :meth:`ArtifactStore.gc` removed (or would remove, on a dry run)."""

    removed: list[str] = field(default_factory=list)
    kept: int = 0
    bytes_freed: int = 0


class _VerifyingReader(io.RawIOBase):
    """Passes bytes through while hashing them; raises at end of stream on a mismatch."""

    def __init__(
        self, raw: BinaryIO, expected: str, on_mismatch: Callable[[str], Exception]
    ) -> None:
        self._raw = raw
        self._expected = expected
        self._on_mismatch = on_mismatch
        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        chunk = self._raw.read(len(buffer))
        if not chunk:
            if not self._checked and len(buffer):
                self._checked = True
                actual = self._hash.hexdigest()
                if actual != self._expected:
                    raise self._on_mismatch(actual)
            return 0
        self._hash.update(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _corrupt(digest: str) -> Callable[[str], Exception]:
    def error(actual: str) -> Exception:
        return StoreError(
            f"artifact {digest} is corrupt: content hash is {actual}",
            hint="delete it and re-run the step that produced it",
        )

    return error


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore:
    """Content-addressed blobs and directory trees over a :class:`ByteBackend`.

    Args:
        backend: where the bytes live.
        url: how the store was addressed, for messages (never holds credentials
            unless the URL given did).
    """

    validate_digest = staticmethod(validate_digest)

    def __init__(self, backend: ByteBackend, *, url: str | None = None) -> None:
        self.backend = backend
        self.url = safe_url(url) if url else repr(backend)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    @classmethod
    def from_url(
        cls,
        url: str | None,
        *,
        root: Path,
        storage_options: Mapping[str, Any] | None = None,
    ) -> ArtifactStore:
        """Open the store at ``url``; relative paths are relative to the project ``root``.

        ``None`` is ``<root>/.conveyor/artifacts``; ``memory://`` a private
        in-memory store; a path or ``file://`` URL a local directory; any other
        URL (``s3://bucket/prefix``) goes through fsspec with ``storage_options``
        (``endpoint_url``, ``key``, ``secret``…; ignored for local stores).

        Example:
            >>> ArtifactStore.from_url(  # doctest: +SKIP
            ...     "s3://ml/artifacts", root=Path("."),
            ...     storage_options={"endpoint_url": "http://127.0.0.1:9000"})
            ArtifactStore('s3://ml/artifacts')
        """
        root = Path(root)
        if url is None:
            return cls(LocalBackend(root / ".conveyor" / "artifacts"), url=None)
        if url.startswith("memory://"):
            return cls(MemoryBackend(), url=url)
        if url.startswith("file://"):
            local = url.removeprefix("file://").removeprefix("localhost")
            return cls(LocalBackend(root / Path(local).expanduser()), url=url)
        if "://" in url or "::" in url:
            return cls(FsspecBackend(url, **dict(storage_options or {})), url=url)
        return cls(LocalBackend(root / Path(url).expanduser()), url=url)

    # ------------------------------------------------------------ blobs

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 hex digest. Existing blobs are not rewritten."""
        digest = hashlib.sha256(data).hexdigest()
        key = digest_key(digest)
        if not self._present(key, len(data)):
            self.backend.put(key, bytes(data))
        return digest

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Store the file at ``path`` (streamed, bounded memory); returns its digest."""
        path = Path(path)
        try:
            digest, size = _hash_file(path)
            key = digest_key(digest)
            if self._present(key, size):
                return digest

            def changed(actual: str) -> Exception:
                return StoreError(
                    f"{path} changed while it was being stored (hash {digest} became {actual})",
                    hint="store files only once whatever writes them has finished",
                )

            with path.open("rb") as handle:
                self.backend.put(key, io.BufferedReader(_VerifyingReader(handle, digest, changed)))
        except OSError as exc:
            raise StoreError(f"cannot store {path}: {exc.strerror or exc}") from exc
        return digest

    def _present(self, key: str, size: int) -> bool:
        # A blob of the wrong size (truncated by a crash or by hand) gets rewritten.
        try:
            return self.backend.exists(key) and self.backend.size(key) == size
        except NotFound:
            return False

    def get_bytes(self, digest: str) -> bytes:
        """The content of ``digest``, verified against its hash.

        Raises:
            NotFound: no such blob.
            StoreError: the stored bytes do not hash to ``digest`` (tampered or truncated).
        """
        data = self.backend.get(digest_key(digest))
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise _corrupt(digest)(actual)
        return data

    def open(self, digest: str) -> BinaryIO:
        """A read-only, non-seekable stream of ``digest``.

        The content is verified as it is read: reading to the end raises
        StoreError if the bytes do not hash to ``digest``.
        """
        raw = self.backend.open(digest_key(digest))
        return io.BufferedReader(_VerifyingReader(raw, digest, _corrupt(digest)), CHUNK_SIZE)  # type: ignore[return-value]

    def get_to_file(self, digest: str, dest_path: str | os.PathLike[str]) -> Path:
        """Write ``digest`` to ``dest_path`` (streamed, verified, atomic); returns the path."""
        dest = Path(dest_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.tmp-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.open(digest) as source:
                shutil.copyfileobj(source, out, CHUNK_SIZE)
            os.replace(tmp, dest)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return dest

    def exists(self, digest: str) -> bool:
        """Whether a blob named ``digest`` is stored (its content is not checked)."""
        return self.backend.exists(digest_key(digest))

    def size(self, digest: str) -> int:
        """Stored size of ``digest`` in bytes (NotFound if missing)."""
        return self.backend.size(digest_key(digest))

    def delete(self, digest: str) -> None:
        """Remove ``digest``; removing a missing blob does nothing."""
        self.backend.delete(digest_key(digest))

    def digests(self) -> Iterator[str]:
        """Every stored digest, in no particular order."""
        for key in self.backend.list_keys():
            digest = key.replace("sha256/", "", 1).replace("/", "", 1)
            if DIGEST_PATTERN.fullmatch(digest):
                yield digest

    # ------------------------------------------------------------ trees

    def put_tree(self, directory: str | os.PathLike[str]) -> str:
        """Store every file under ``directory`` and a manifest; returns the manifest digest.

        The digest depends only on relative paths and file contents, so the
        same directory always gets the same digest. Symbolic links are refused
        (they could point anywhere); empty directories are not kept.
        """
        base = Path(directory)
        if not base.is_dir():
            raise StoreError(f"cannot store tree {base}: not a directory")
        files: dict[str, TreeEntry] = {}
        for path in sorted(base.rglob("*")):
            if path.is_symlink():
                raise StoreError(
                    f"cannot store tree {base}: {path.relative_to(base)} is a symbolic link",
                    hint="copy the file it points to into the directory instead",
                )
            if path.is_file():
                digest = self.put_file(path)
                files[path.relative_to(base).as_posix()] = TreeEntry(digest, path.stat().st_size)
        return self.put_bytes(encode_manifest(files))

    def tree_entries(self, digest: str) -> dict[str, TreeEntry]:
        """The validated manifest of tree ``digest``: relative path -> (digest, size)."""
        return decode_manifest(self.get_bytes(digest), digest)

    def tree_children(self, digest: str) -> set[str]:
        """Digests of every file in tree ``digest``."""
        return {entry.digest for entry in self.tree_entries(digest).values()}

    def is_tree(self, digest: str) -> bool:
        """Whether ``digest`` is stored and looks like a tree manifest (reads a few bytes)."""
        try:
            with self.backend.open(digest_key(digest)) as handle:
                return handle.read(len(MANIFEST_PREFIX)) == MANIFEST_PREFIX
        except NotFound:
            return False

    def get_tree(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Materialise tree ``digest`` at ``dest`` (must be absent or empty); returns ``dest``.

        Every file is verified, and the tree appears at ``dest`` only once
        complete. Paths in the manifest cannot escape ``dest``.
        """
        entries = self.tree_entries(digest)
        target = Path(dest)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise StoreError(
                f"cannot write tree {digest[:12]} to {target}: it exists and is not empty"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            inside = staging.resolve()
            for rel, entry in entries.items():
                path = staging.joinpath(*rel.split("/"))
                if not path.resolve().is_relative_to(inside):
                    raise StoreError(f"tree {digest}: {rel!r} would be written outside {target}")
                self.get_to_file(entry.digest, path)
                if path.stat().st_size != entry.size:
                    raise StoreError(
                        f"tree {digest}: {rel} has {path.stat().st_size} bytes, manifest says {entry.size}"
                    )
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    # ------------------------------------------------------------ garbage collection

    def gc(
        self, referenced: Iterable[str], *, dry_run: bool = False, min_age_s: float = 0.0
    ) -> GcResult:
        """Delete every blob that is not referenced (trees keep their files).

        Args:
            referenced: digests to keep, e.g. ``MetadataStore.referenced_digests()``.
            dry_run: report what would be removed without removing it.
            min_age_s: also keep blobs younger than this, so a run that is
                storing outputs right now (not yet referenced) loses nothing.

        Raises:
            StoreError: a referenced tree manifest is corrupt (nothing is deleted,
                since its files cannot be told apart from garbage).
        """
        keep = self._reachable(referenced)
        removed: list[str] = []
        kept = freed = 0
        now = time.time()
        for digest in self.digests():
            key = digest_key(digest)
            if digest in keep or (min_age_s > 0 and self._younger_than(key, now, min_age_s)):
                kept += 1
                continue
            try:
                size = self.backend.size(key)
            except NotFound:
                continue
            if not dry_run:
                self.backend.delete(key)
            removed.append(digest)
            freed += size
        return GcResult(removed=sorted(removed), kept=kept, bytes_freed=freed)

    def _reachable(self, referenced: Iterable[str]) -> set[str]:
        keep: set[str] = set()
        pending = [d for d in referenced if isinstance(d, str) and DIGEST_PATTERN.fullmatch(d)]
        while pending:
            digest = pending.pop()
            if digest in keep:
                continue
            keep.add(digest)
            if self.is_tree(digest):
                pending.extend(self.tree_children(digest))
        return keep

    def _younger_than(self, key: str, now: float, age_s: float) -> bool:
        modified = self.backend.modified(key)
        # Unknown age counts as young: keeping garbage is safer than losing data.
        return modified is None or now - modified < age_s
