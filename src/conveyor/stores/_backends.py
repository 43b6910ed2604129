"""Byte backends: the tiny storage interface under the artifact store.

A backend stores opaque bytes under keys and knows nothing of hashing,
dedup or trees (that is :class:`~conveyor.stores.ArtifactStore`'s job). The
only keys it accepts are the artifact layout ``sha256/ab/<62 hex>``; anything
else (``..``, absolute paths, backslashes, NUL, other layouts) is rejected
before the storage is touched, so no key can reach outside the backend's root.

A new backend implements :class:`ByteBackend` (about 100 lines) and passes
``conveyor.testing.ARTIFACT_CHECKS``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, runtime_checkable

from conveyor.errors import NotFound, StoreError
from conveyor.stores._remote import RemoteErrors, is_object_store, open_filesystem, safe_url

__all__ = [
    "KEY_PATTERN",
    "ByteBackend",
    "FsspecBackend",
    "LocalBackend",
    "MemoryBackend",
    "validate_key",
]

KEY_PATTERN = re.compile(r"sha256/[0-9a-f]{2}/[0-9a-f]{62}")
CHUNK_SIZE = 1 << 20
_TEMP_MARK = ".tmp-"


def validate_key(key: object) -> str:
    """Return ``key`` if it is a blob key (``sha256/ab/<62 hex>``), else raise StoreError."""
    if isinstance(key, str) and KEY_PATTERN.fullmatch(key):
        return key
    shown = repr(key) if len(repr(key)) <= 90 else repr(key)[:87] + "..."
    raise StoreError(
        f"artifact key {shown} is invalid: expected 'sha256/<2 hex>/<62 hex>' "
        "(keys never contain '..', absolute paths or other layouts)"
    )


@runtime_checkable
class ByteBackend(Protocol):
    """Where the artifact store keeps its bytes.

    ``put`` is atomic: readers see the old state or the whole new blob, and a
    failed or interrupted put (including an exception raised by the source
    stream) leaves nothing under ``key``. Missing keys raise
    :class:`~conveyor.errors.NotFound` from ``get``/``open``/``size``;
    ``delete`` of a missing key does nothing.
    """

    def put(self, key: str, data: bytes | BinaryIO) -> None: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list_keys(self) -> Iterator[str]: ...

    def size(self, key: str) -> int: ...

    def modified(self, key: str) -> float | None:
        """Last-modified time (POSIX seconds), or None when the backend cannot tell."""
        ...


def _copy(data: bytes | BinaryIO, dest: IO[bytes]) -> None:
    if isinstance(data, bytes | bytearray | memoryview):
        dest.write(data)
        return
    while chunk := data.read(CHUNK_SIZE):
        dest.write(chunk)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend:
    """Blobs as files under ``root``: written to a temp file, fsynced, renamed into place."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*validate_key(key).split("/"))
        # Belt and braces: the key pattern already rules out any escape.
        if not path.is_relative_to(self.root):  # pragma: no cover
            raise StoreError(f"artifact key {key!r} resolves outside {self.root}")
        return path

    def _missing(self, key: str, exc: OSError) -> NotFound:
        return NotFound(f"artifact {key} not found in {self.root}")

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        path = self._path(key)
        try:
            new_dirs = [p for p in (path.parent.parent, path.parent) if not p.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TEMP_MARK, dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    _copy(data, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)
            for directory in new_dirs:
                _fsync_dir(directory.parent)
        except OSError as exc:
            raise StoreError(f"cannot write artifact {key} under {self.root}: {exc}") from exc

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from exc
        except OSError as exc:
            raise StoreError(f"cannot read artifact {key} under {self.root}: {exc}") from exc

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from exc
        except OSError as exc:
            raise StoreError(f"cannot read artifact {key} under {self.root}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete artifact {key} under {self.root}: {exc}") from exc

    def list_keys(self) -> Iterator[str]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for shard in os.scandir(base):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                key = f"sha256/{shard.name}/{entry.name}"
                if KEY_PATTERN.fullmatch(key) and entry.is_file(follow_symlinks=False):
                    yield key

    def size(self, key: str) -> int:
        return self._stat(key).st_size

    def modified(self, key: str) -> float | None:
        return self._stat(key).st_mtime

    def _stat(self, key: str) -> os.stat_result:
        try:
            return self._path(key).stat()
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from exc


class MemoryBackend:
    """Blobs in a dict: the in-memory twin for tests and throwaway projects."""

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryBackend({len(self._blobs)} blobs)"

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        validate_key(key)
        buffer = io.BytesIO()
        _copy(data, buffer)  # read fully first: a failing stream must leave nothing behind
        with self._lock:
            self._blobs[key] = (buffer.getvalue(), time.time())

    def _entry(self, key: str) -> tuple[bytes, float]:
        validate_key(key)
        with self._lock:
            entry = self._blobs.get(key)
        if entry is None:
            raise NotFound(f"artifact {key} not found in memory")
        return entry

    def get(self, key: str) -> bytes:
        return self._entry(key)[0]

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self._entry(key)[0])

    def exists(self, key: str) -> bool:
        validate_key(key)
        with self._lock:
            return key in self._blobs

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._blobs.pop(key, None)

    def list_keys(self) -> Iterator[str]:
        with self._lock:
            keys = list(self._blobs)
        yield from keys

    def size(self, key: str) -> int:
        return len(self._entry(key)[0])

    def modified(self, key: str) -> float | None:
        return self._entry(key)[1]


class FsspecBackend:
    """Blobs on any fsspec filesystem (``s3://bucket/prefix``, ``gs://…``, ``file://…``).

    Filesystems that can rename get a temp key moved into place; object
    stores get a single upload of fully staged bytes (an object appears
    whole or not at all there: a PUT, or a multipart upload that is only
    published when it completes). Failures become StoreErrors that name the
    URL and the endpoint: an endpoint that does not answer, missing
    credentials, a bucket that does not exist.

    Args:
        url: fsspec URL of the root, e.g. ``s3://bucket/conveyor``.
        **storage_options: passed to fsspec, e.g. ``endpoint_url``, ``key``,
            ``secret`` (credentials come from these options or the
            environment; they are never logged nor shown in errors).

    Example:
        >>> backend = FsspecBackend("memory://conveyor-doc")
        >>> backend.put("sha256/ab/" + "c" * 62, b"hi")
        >>> backend.get("sha256/ab/" + "c" * 62)
        b'hi'
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.fs, self.root = open_filesystem(url, storage_options, what="artifact store")
        self.url = safe_url(url)
        self._errors = RemoteErrors("artifact store", url, self.fs)
        self._can_rename = not is_object_store(self.fs)

    def __repr__(self) -> str:
        return f"FsspecBackend({self.url!r})"

    def _path(self, key: str) -> str:
        return f"{self.root}/{validate_key(key)}"

    def _missing(self, key: str, exc: BaseException) -> StoreError:
        if self._errors.is_missing_bucket(exc):
            return self._errors.translate(exc, f"reading artifact {key}")
        return NotFound(f"artifact {key} not found in {self.url}")

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        path = self._path(key)
        try:
            if self._can_rename:
                self._put_via_rename(path, data)
            elif isinstance(data, bytes | bytearray | memoryview):
                self.fs.pipe_file(path, bytes(data))
            else:
                with tempfile.NamedTemporaryFile(prefix="conveyor-upload-") as staged:
                    shutil.copyfileobj(data, staged, CHUNK_SIZE)
                    staged.flush()
                    self.fs.put_file(staged.name, path)
        except StoreError:
            raise
        except Exception as exc:
            raise self._errors.translate(exc, f"writing artifact {key}") from exc

    def _put_via_rename(self, path: str, data: bytes | BinaryIO) -> None:
        tmp = f"{path}{_TEMP_MARK}{uuid.uuid4().hex}"
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        try:
            with self.fs.open(tmp, "wb") as handle:
                _copy(data, handle)
            self.fs.mv(tmp, path)
        except BaseException:
            with suppress(Exception):
                self.fs.rm(tmp)
            raise

    def get(self, key: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from exc
        except StoreError:
            raise
        except Exception as exc:
            raise self._errors.translate(exc, f"reading artifact {key}") from exc

    def open(self, key: str) -> BinaryIO:
        try:
            return self.fs.open(self._path(key), "rb")
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from exc
        except StoreError:
            raise
        except Exception as exc:
            raise self._errors.translate(exc, f"reading artifact {key}") from exc

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            return bool(self.fs.exists(path)) and bool(self.fs.isfile(path))
        except Exception as exc:
            raise self._errors.translate(exc, f"looking up artifact {key}") from exc

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            self.fs.rm_file(path)
        except FileNotFoundError as exc:
            if self._errors.is_missing_bucket(exc):
                raise self._errors.translate(exc, f"deleting artifact {key}") from exc
        except Exception as exc:
            raise self._errors.translate(exc, f"deleting artifact {key}") from exc

    def list_keys(self) -> Iterator[str]:
        base = f"{self.root}/sha256"
        try:
            found = self.fs.find(base)
        except FileNotFoundError as exc:
            if self._errors.is_missing_bucket(exc):
                raise self._errors.translate(exc, "listing artifacts") from exc
            return
        except Exception as exc:
            raise self._errors.translate(exc, "listing artifacts") from exc
        for path in found:
            key = self._relative_key(str(path))
            if key is not None:
                yield key

    def _relative_key(self, path: str) -> str | None:
        # Filesystems differ on a leading slash; compare without it.
        root = self.root.lstrip("/")
        path = path.lstrip("/")
        if not path.startswith(root + "/"):
            return None
        key = path[len(root) + 1 :]
        return key if KEY_PATTERN.fullmatch(key) else None

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from exc
        except Exception as exc:
            raise self._errors.translate(exc, f"reading the size of artifact {key}") from exc

    def modified(self, key: str) -> float | None:
        try:
            return float(self.fs.modified(self._path(key)).timestamp())
        except FileNotFoundError as exc:
            raise self._missing(key, exc) from exc
        except (NotImplementedError, AttributeError):
            return None
        except Exception as exc:
            raise self._errors.translate(exc, f"reading the age of artifact {key}") from exc
