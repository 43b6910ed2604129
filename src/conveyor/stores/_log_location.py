"""Where a prediction log lives: a local directory or an fsspec URL (``s3://bucket/prefix``).

:class:`LogLocation` is the one place that touches storage for the log:
listing segments, writing one atomically and scanning them with Polars.

* Local directory: a segment is written to a hidden temporary file, fsynced
  and renamed, and the directory is fsynced (as it always was).
* Object store (S3 and friends): the segment is built in memory and sent as
  one upload under its final key; S3 publishes an object only once the whole
  upload has arrived, so a reader never sees part of a segment, and a writer
  killed mid-upload leaves nothing behind.
* Other fsspec filesystems: a hidden temporary file renamed into place.

Readers list segments with fsspec (fresh listings, no cache) and scan them
with Polars' own S3 reader when it can (``storage_options`` translated from
the fsspec vocabulary), else through fsspec.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import polars as pl

from conveyor.errors import StoreError
from conveyor.stores._remote import (
    RemoteErrors,
    is_object_store,
    open_filesystem,
    polars_storage_options,
    safe_url,
)

__all__ = ["LogLocation", "is_remote_url"]


def _segment_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` as a regex in which ``*`` and ``?`` never cross a ``/`` (glob semantics)."""
    out = []
    for char in pattern:
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
    return re.compile("".join(out))


def is_remote_url(root: object) -> bool:
    """Whether ``root`` is a URL that fsspec must open (anything but a path or ``file://``).

    Example:
        >>> is_remote_url("s3://bucket/predictions"), is_remote_url(".conveyor/predictions")
        (True, False)
    """
    return (
        isinstance(root, str) and ("://" in root or "::" in root) and not root.startswith("file://")
    )


class LogLocation:
    """The storage under a prediction log.

    Args:
        root: a directory (``Path`` or text), a ``file://`` URL, or an fsspec
            URL such as ``s3://bucket/prefix/predictions``.
        storage_options: fsspec options for URLs (``endpoint_url``, ``key``,
            ``secret``…); never shown in messages.

    Example:
        >>> LogLocation("/srv/churn/.conveyor/predictions").is_local
        True
        >>> LogLocation("memory://logs/predictions").url
        'memory://logs/predictions'
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage_options: dict[str, Any] = dict(storage_options or {})
        self.fs: Any = None
        self.path: Path | None = None
        self._polars: dict[str, str] | None = None
        if is_remote_url(root):
            text = str(root).rstrip("/")
            self.fs, self._root = open_filesystem(text, self.storage_options, what="prediction log")
            self.url = safe_url(text)
            self._errors = RemoteErrors("prediction log", text, self.fs)
            self._polars = polars_storage_options(self.fs, self.storage_options)
        else:
            text = os.fspath(root)
            self.path = Path(text.removeprefix("file://"))
            self.url = str(self.path)

    @classmethod
    def of(
        cls,
        root: str | os.PathLike[str] | LogLocation,
        storage_options: Mapping[str, Any] | None = None,
    ) -> LogLocation:
        """``root`` itself if it is a LogLocation, else a new one (for readers taking either).

        Example:
            >>> LogLocation.of(Path("/srv/preds")).path
            PosixPath('/srv/preds')
        """
        return root if isinstance(root, LogLocation) else cls(root, storage_options)

    def __repr__(self) -> str:
        return f"LogLocation({self.url!r})"

    def __str__(self) -> str:
        return self.url

    @property
    def is_local(self) -> bool:
        """Whether the log is a local directory."""
        return self.path is not None

    # ------------------------------------------------------------ listing

    def exists(self) -> bool:
        """Whether anything was ever written to the log (a directory, or objects under the prefix).

        Raises:
            StoreError: the object store cannot be reached or refuses access.
        """
        if self.path is not None:
            return self.path.is_dir()
        try:
            return bool(self.fs.exists(self._root))
        except Exception as exc:
            raise self._errors.translate(exc, "looking for the log") from exc

    def glob(self, pattern: str) -> list[str]:
        """Files matching ``pattern`` (relative, ``*`` stays within one level), sorted.

        Local files come back as paths, remote ones as full URLs that
        :meth:`scan` reads.

        Example:
            >>> LogLocation("/nonexistent").glob("*/v1/*/*/part-*.parquet")
            []
        """
        if self.path is not None:
            if not self.path.is_dir():
                return []
            return [str(p) for p in sorted(self.path.glob(pattern))]
        # One flat listing under the pattern's fixed prefix: an object store
        # answers it in a request per 1000 keys, where a glob walks every level.
        parts = pattern.split("/")
        fixed = next((i for i, part in enumerate(parts) if "*" in part or "?" in part), len(parts))
        base = "/".join([self._root, *parts[:fixed]])
        matches = _segment_regex(pattern).fullmatch
        try:
            found = self.fs.find(base)
        except FileNotFoundError as exc:
            if self._errors.is_missing_bucket(exc):
                raise self._errors.translate(exc, "listing segments") from exc
            return []
        except Exception as exc:
            raise self._errors.translate(exc, "listing segments") from exc
        root = self._root.lstrip("/") + "/"
        return sorted(
            self.fs.unstrip_protocol(str(p))
            for p in found
            if str(p).lstrip("/").startswith(root) and matches(str(p).lstrip("/")[len(root) :])
        )

    # ------------------------------------------------------------ writing

    def write_segment(
        self, directory: str, name: str, frame: pl.DataFrame, metadata: Mapping[str, str]
    ) -> str:
        """Write ``frame`` as ``<directory>/<name>`` atomically; returns where it went.

        ``directory`` is relative to the log root (``churn/v3/2026-11-28/14``).
        """
        if self.path is not None:
            return str(self._write_local(self.path / directory, name, frame, metadata))
        path = f"{self._root}/{directory}/{name}"
        buffer = io.BytesIO()
        frame.write_parquet(buffer, metadata=dict(metadata))
        try:
            if is_object_store(self.fs):
                self.fs.pipe_file(path, buffer.getvalue())  # one upload: all or nothing
            else:
                tmp = f"{self._root}/{directory}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
                self.fs.makedirs(f"{self._root}/{directory}", exist_ok=True)
                try:
                    self.fs.pipe_file(tmp, buffer.getvalue())
                    self.fs.mv(tmp, path)
                except BaseException:
                    with suppress(Exception):  # the original error matters more
                        self.fs.rm(tmp)
                    raise
        except Exception as exc:
            raise self._errors.translate(exc, f"writing segment {directory}/{name}") from exc
        return self.fs.unstrip_protocol(path)

    @staticmethod
    def _write_local(
        directory: Path, name: str, frame: pl.DataFrame, metadata: Mapping[str, str]
    ) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                frame.write_parquet(fh, metadata=dict(metadata))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, directory / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
        return directory / name

    # ------------------------------------------------------------ reading

    def scan(self, files: str | Sequence[str], **options: Any) -> pl.LazyFrame:
        """A lazy Polars scan of segment file(s) from :meth:`glob`.

        Args:
            files: one file or several (read as one frame; same schema).
            **options: passed to :func:`polars.scan_parquet` (``schema``,
                ``extra_columns``…).

        Example:
            >>> location = LogLocation("s3://ml/predictions", {"endpoint_url": "http://s3:9000"})  # doctest: +SKIP
            >>> location.scan(location.glob("churn/v3/*/*/part-*.parquet")).collect()  # doctest: +SKIP
        """
        many = [files] if isinstance(files, str) else list(files)
        if self.path is not None:
            return pl.scan_parquet(many, **options)
        if self._polars is not None:
            return pl.scan_parquet(many, storage_options=self._polars, **options)
        try:
            blobs = [io.BytesIO(self.fs.cat_file(f)) for f in many]
        except Exception as exc:
            raise self._errors.translate(exc, "reading segments") from exc
        return pl.scan_parquet(blobs, **options)

    def schema(self, file: str) -> pl.Schema:
        """The column names and types of one segment (reads only its footer)."""
        try:
            return self.scan(file).collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            if self.path is not None:
                raise StoreError(f"prediction log segment {file}: cannot read it: {exc}") from exc
            raise self._errors.translate(exc, f"reading segment {file}") from exc
