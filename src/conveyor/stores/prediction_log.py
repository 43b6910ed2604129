"""The prediction log: append-only Parquet segments per model version and hour.

The request path calls :meth:`PredictionLog.append`, which only puts rows on a
queue; a background thread batches them and writes one segment per
(model, version, UTC hour) at a time::

    <root>/<model>/v<version>/<YYYY-MM-DD>/<HH>/part-<uuid>.parquet

The root is a local directory or an fsspec URL (``s3://bucket/prefix/predictions``,
see :class:`LogLocation`). A local segment is written to a hidden temporary
file, fsynced and renamed; on an object store it is one upload under its final
key. Either way a reader never sees a partial file. Each segment carries the
key-value metadata
``{"conveyor_log_format": "1"}``. Columns: ``prediction_id``, ``model``,
``version``, ``ts`` (UTC), one column per input field named exactly as the
field (``input_<name>`` when the field clashes with a fixed column),
``prediction`` (float for regression values, text for labels), ``probabilities``
(JSON text), ``latency_ms``, ``fallback`` and ``status``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from conveyor.errors import DataError, StoreError
from conveyor.stores._log_location import LogLocation, is_remote_url
from conveyor.stores._log_rows import EMPTY_SCHEMA, FIXED_COLUMNS, NAME, check_row, to_frame

__all__ = [
    "FIXED_COLUMNS",
    "LOG_FORMAT_KEY",
    "LogLocation",
    "PredictionLog",
    "default_log_root",
    "is_remote_url",
]

_log = logging.getLogger(__name__)

LOG_FORMAT_KEY = "conveyor_log_format"
_SUPPORTED_FORMATS = (1,)


def default_log_root(root: Path) -> Path:
    """Where a project keeps its prediction log: ``<root>/.conveyor/predictions``."""
    return Path(root) / ".conveyor" / "predictions"


class PredictionLog:
    """Append-only prediction log written by a background thread.

    Args:
        root: directory of the log (created on first write), an fsspec URL
            (``s3://bucket/prefix/predictions``) or a :class:`LogLocation`.
        storage_options: fsspec options for a URL root (``endpoint_url``,
            ``key``, ``secret``…); ignored for a directory or a LogLocation.
        batch_size: write as soon as this many rows are waiting.
        flush_interval_s: write waiting rows at least this often.
        format_version: segment format to write (only ``1`` exists).
        recent_ids: how many written prediction ids :meth:`contains` remembers
            in memory before it falls back to scanning segments.

    Example:
        >>> log = PredictionLog("/tmp/preds")  # doctest: +SKIP
        >>> log.append([{"prediction_id": "p1", "model": "churn", "version": 3,
        ...              "ts": datetime.now(UTC), "inputs": {"age": 41},
        ...              "prediction": "yes"}])  # doctest: +SKIP
        >>> log.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | LogLocation,
        *,
        storage_options: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        flush_interval_s: float = 1.0,
        format_version: int = 1,
        recent_ids: int = 1_000_000,
    ) -> None:
        if format_version not in _SUPPORTED_FORMATS:
            raise StoreError(
                f"prediction log format_version {format_version} is not supported "
                f"(expected one of {list(_SUPPORTED_FORMATS)})"
            )
        if batch_size < 1 or flush_interval_s <= 0:
            raise ValueError("batch_size must be >= 1 and flush_interval_s > 0")
        self.location = LogLocation.of(root, storage_options)
        self.root: Path | str = self.location.path or self.location.url
        """The log's directory (a Path), or its URL for a remote log."""
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.format_version = format_version
        self._recent_limit = recent_ids
        # Appended rows wait here; the writer is woken only when a batch is full,
        # on a flush or at close (waking it per request would cost a GIL switch).
        self._rows: list[dict] = []
        self._flushes: list[threading.Event] = []
        self._stopping = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        # ids appended but not yet on disk, and a bounded memory of written ones.
        self._pending: dict[str, str] = {}
        self._recent: OrderedDict[str, str] = OrderedDict()
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ request path

    def append(self, rows: list[dict]) -> None:
        """Queue rows for writing; never waits on disk.

        Each row needs ``prediction_id`` (str), ``model`` (str), ``version``
        (int) and ``ts`` (timezone-aware datetime); optional ``inputs`` (dict),
        ``prediction``, ``probabilities`` (dict), ``latency_ms``, ``fallback``,
        ``status`` (default ``"ok"``).

        Raises:
            DataError: a row lacks a key or has the wrong type (names the row and key).
            StoreError: the log is closed.
        """
        if self._closed:
            raise StoreError(f"prediction log {self.root} is closed; rows were not logged")
        for i, row in enumerate(rows):
            check_row(i, row)
        with self._lock:
            for row in rows:
                self._pending[row["prediction_id"]] = row["model"]
            self._rows.extend(rows)
            full = len(self._rows) >= self.batch_size
        if full:
            self._wake.set()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every row appended so far is on disk.

        Raises:
            StoreError: the writer failed (rows stay queued and are retried) or
                ``timeout`` seconds passed.
        """
        if not self._thread.is_alive():
            self._raise_if_failed()
            return
        done = threading.Event()
        with self._lock:
            self._flushes.append(done)
        self._wake.set()
        if not done.wait(timeout):
            raise StoreError(f"prediction log {self.root}: flush did not finish in {timeout} s")
        self._raise_if_failed()

    def close(self) -> None:
        """Write everything queued and stop the writer thread (idempotent).

        Raises:
            StoreError: the final write failed; the message says how many rows were lost.
        """
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._stopping = True
        self._wake.set()
        self._thread.join()
        with self._lock:
            lost = len(self._pending)
        if lost:
            raise StoreError(
                f"prediction log {self.root}: {lost} rows could not be written: {self._error}"
            )

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ queries

    def contains(self, prediction_id: str) -> bool:
        """Whether a prediction id was logged (queued, recently written or in a segment)."""
        return prediction_id in self.lookup([prediction_id])

    def lookup(self, prediction_ids: Iterable[str]) -> dict[str, str]:
        """The model name of each given prediction id that is in the log (unknown ids are absent)."""
        wanted = set(prediction_ids)
        found: dict[str, str] = {}
        with self._lock:
            for pid in wanted:
                model = self._pending.get(pid) or self._recent.get(pid)
                if model is not None:
                    found[pid] = model
        missing = wanted - found.keys()
        if not missing:
            return found  # no listing: on an object store that is a request saved
        files = list(self._segments())
        if files:
            frame = (
                self.location.scan(
                    files,
                    schema={"prediction_id": pl.String, "model": pl.String},
                    extra_columns="ignore",
                )
                .filter(pl.col("prediction_id").is_in(list(missing)))
                .unique("prediction_id")
                .collect()
            )
            found.update(zip(frame["prediction_id"], frame["model"], strict=True))
        return found

    def scan(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
    ) -> pl.LazyFrame:
        """Logged predictions on disk (call :meth:`flush` first to include queued rows).

        Segments with different input columns are combined; a column missing
        from a segment reads as null.

        Args:
            model: only this model.
            version: only this version.
            since: only rows with ``ts >= since`` (timezone-aware).
        """
        if since is not None and since.tzinfo is None:
            raise DataError(f"scan(since={since!r}): pass a timezone-aware (UTC) datetime")
        files = list(self._segments(model=model, version=version, since=since))
        if not files:
            return pl.LazyFrame(schema=EMPTY_SCHEMA)
        frame = pl.concat([self.location.scan(f) for f in files], how="diagonal_relaxed")
        if since is not None:
            frame = frame.filter(pl.col("ts") >= since.astimezone(UTC))
        return frame

    def _segments(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
    ) -> Iterator[str]:
        if model is not None and not NAME.match(model):
            return
        pattern = f"{model or '*'}/v{'*' if version is None else int(version)}/*/*/part-*.parquet"
        cutoff = since.astimezone(UTC).strftime("%Y-%m-%d/%H") if since is not None else None
        for path in self.location.glob(pattern):
            day, hour = path.rsplit("/", 3)[1:3]
            if cutoff is not None and f"{day}/{hour}" < cutoff:
                continue  # the whole hour is before `since`
            yield path

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        buffer: list[dict] = []  # rows taken from the request side, kept until written
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            with self._lock:
                buffer.extend(self._rows)
                self._rows = []
                waiting, self._flushes = self._flushes, []
                stop = self._stopping
            buffer = self._write(buffer)
            for event in waiting:
                event.set()
            if stop:
                return

    def _write(self, buffer: list[dict]) -> list[dict]:
        """Write the buffer; returns the rows that could not be written (kept for a retry)."""
        if not buffer:
            return buffer
        groups: dict[tuple[str, int, str], list[dict]] = {}
        for row in buffer:
            ts = row["ts"].astimezone(UTC)
            key = (row["model"], int(row["version"]), ts.strftime("%Y-%m-%d/%H"))
            groups.setdefault(key, []).append(row)
        failed: list[dict] = []
        error: BaseException | None = None
        for (model, version, hour), rows in groups.items():
            try:
                self.location.write_segment(
                    f"{model}/v{version}/{hour}",
                    f"part-{uuid.uuid4().hex}.parquet",
                    _frame_in_slices(rows),
                    {LOG_FORMAT_KEY: str(self.format_version)},
                )
            except Exception as exc:  # disk full, permissions: keep rows, retry next round
                _log.warning("prediction log: writing %d rows failed: %s", len(rows), exc)
                error = exc
                failed.extend(rows)
                continue
            with self._lock:
                for row in rows:
                    pid = row["prediction_id"]
                    self._pending.pop(pid, None)
                    self._recent[pid] = row["model"]
                while len(self._recent) > self._recent_limit:
                    self._recent.popitem(last=False)
        self._error = error
        return failed

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise StoreError(
                f"prediction log {self.root}: writing failed: {self._error}",
                hint="rows stay queued and are retried; check disk space and permissions"
                + ("" if self.location.is_local else ", the object store and its credentials"),
            )


# Rows turned into a frame per slice, the GIL handed back between slices: a
# server's event loop waits at most one slice (~1 ms), not a whole batch.
_SLICE_ROWS = 128


def _frame_in_slices(rows: list[dict]) -> pl.DataFrame:
    if len(rows) <= _SLICE_ROWS:
        return to_frame(rows)
    frames = []
    for start in range(0, len(rows), _SLICE_ROWS):
        frames.append(to_frame(rows[start : start + _SLICE_ROWS]))
        time.sleep(0)  # let the request threads run
    return pl.concat(frames, how="diagonal_relaxed")
