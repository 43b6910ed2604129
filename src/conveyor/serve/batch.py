"""Batch scoring (``conveyor score``): streaming, bounded-memory and resumable.

The input is read in fixed slices of ``chunk_rows`` rows (chunk *i* is always
rows ``[i*chunk_rows, (i+1)*chunk_rows)``, so a rerun cuts the same chunks).
Each chunk is typed and checked against the bundle signature column-wise in
Polars, scored by the Python pipeline on a thread pool, and written as its own
part. Rows that fail validation go to the rejects output with ``__row``
(0-based input row) and ``__reason``.

File outputs write ``<output>.parts/part-NNNNN.parquet`` and a
``_progress.json`` manifest; on completion the parts are streamed into the
final file (atomic rename) and the parts directory is removed. A rerun with
the same input fingerprint, model version and ``chunk_rows`` skips the chunks
already done. SQL outputs append each chunk and its progress row in one
transaction (``_conveyor_batch`` table, keyed by job id).

The parts of the job live in private modules: ``_batch_input`` (sources),
``_batch_checks`` (vectorised validation), ``_batch_chunk`` (one chunk from
validation to predictions) and ``_batch_output`` (sinks).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError
from conveyor.serve._batch_chunk import process_chunk as _process
from conveyor.serve._batch_input import open_input
from conveyor.serve._batch_output import open_sink

if TYPE_CHECKING:
    import polars as pl

    from conveyor.bundle import LoadedBundle
    from conveyor.registry import ModelVersion
    from conveyor.stores.artifacts import ArtifactStore

__all__ = ["BatchResult", "score_file", "score_loaded_bundle"]

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What a batch scoring job did.

    Attributes:
        rows_in: input rows seen (including chunks skipped on resume).
        rows_scored: rows written to the output.
        rows_rejected: rows written to the rejects output.
        output: the output path or ``sql://`` target.
        rejects: the rejects path/table, or None when no row was rejected.
        seconds: wall time of this invocation.
        resumed_chunks: chunks skipped because a previous run finished them.
        chunks: chunks in the input.
        notes: messages for the user (e.g. a previous job's progress was discarded).
    """

    rows_in: int
    rows_scored: int
    rows_rejected: int
    output: str
    rejects: str | None
    seconds: float
    resumed_chunks: int
    chunks: int = 0
    notes: list[str] = field(default_factory=list)


def score_file(
    version: ModelVersion,
    artifacts: ArtifactStore,
    *,
    input: str,
    output: str,
    chunk_rows: int = 100_000,
    workers: int = 2,
    rejects: str | None = None,
    resume: bool = True,
    on_progress: Callable[[int, int | None], None] | None = None,
    client: Any = None,
) -> BatchResult:
    """Score ``input`` chunk by chunk with ``version`` and write ``output`` (resumable).

    Args:
        version: the registered model version.
        artifacts: the project's artifact store (holds the bundle).
        input: a .csv/.parquet/.jsonl path or ``sql://<sqlalchemy-url>?table=NAME``
            (or ``?query=SELECT…``); or partitioned Parquet: a directory or a
            glob (``data/*.parquet``), scored part by part into the directory
            ``output`` (see :mod:`conveyor.serve._batch_dask`).
        output: a .csv/.parquet path or ``sql://<sqlalchemy-url>?table=NAME``
            (a directory for partitioned input).
        chunk_rows: rows per chunk; memory is bounded by about ``workers + 2`` chunks.
        workers: chunks scored at the same time (threads).
        rejects: where rejected rows go: a .csv/.parquet path (default
            ``<output stem>.rejects<suffix>``) or, for SQL outputs, a table name
            (default ``<table>_rejects``).
        resume: skip chunks a previous run of the same job finished.
        on_progress: called with (rows done, total rows or None) after each chunk.
        client: a ``distributed.Client`` (``executor: dask``): the parts of a
            partitioned input are scored on its workers; None scores them here.

    Raises:
        SchemaError: the input lacks columns the model needs (before any output).
        ConfigError: bad input/output specification, or a SQL table that exists.
        DataError: the input cannot be read or the output cannot be written.

    Example:
        >>> with Project(".") as project:  # doctest: +SKIP
        ...     version = project.registry.resolve("churn@champion")
        ...     result = score_file(version, project.artifacts,
        ...                         input="customers.parquet", output="scored.parquet")
        >>> result.rows_scored, result.rejects  # doctest: +SKIP
        (7043, None)
    """
    from conveyor.registry import fetch_bundle
    from conveyor.serve._batch_dask import is_partitioned

    if chunk_rows < 1 or workers < 1:
        raise ConfigError(f"chunk_rows and workers must be >= 1, got {chunk_rows} and {workers}")
    if is_partitioned(input):
        from conveyor.serve._batch_dask import score_partitioned

        return score_partitioned(
            version, artifacts, input=input, output=output, chunk_rows=chunk_rows,
            workers=workers, rejects=rejects, resume=resume, on_progress=on_progress,
            client=client,
        )  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="conveyor-score-") as tmp:
        bundle = fetch_bundle(artifacts, version, Path(tmp) / "bundle", onnx=False)
        result = score_loaded_bundle(
            bundle,
            model=f"{version.model_name}:{version.version}",
            bundle_digest=version.bundle_digest,
            input=input,
            output=output,
            chunk_rows=chunk_rows,
            workers=workers,
            rejects=rejects,
            resume=resume,
            on_progress=on_progress,
        )
    result.seconds = time.perf_counter() - started
    return result


def score_loaded_bundle(
    bundle: LoadedBundle,
    *,
    model: str,
    bundle_digest: str,
    input: str,
    output: str,
    chunk_rows: int = 100_000,
    workers: int = 2,
    rejects: str | None = None,
    resume: bool = True,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> BatchResult:
    """:func:`score_file` with a bundle already loaded (``model`` is ``name:version``).

    The job that a rerun resumes is identified by the input's fingerprint,
    ``model``, ``bundle_digest`` and ``chunk_rows``.

    Example:
        >>> score_loaded_bundle(bundle, model="churn:3", bundle_digest=v.bundle_digest,
        ...                     input="part-0.parquet", output="out/part-0.parquet")  # doctest: +SKIP
    """
    started = time.perf_counter()
    source = open_input(input, bundle.signature.input_names)
    job = {
        "input": source.fingerprint,
        "model": model,
        "bundle": bundle_digest,
        "chunk_rows": chunk_rows,
    }
    sink = open_sink(output, rejects, job, resume=resume)
    done = sink.done_chunks()
    for note in sink.notes:
        log.warning(note)
    validator = bundle.signature.validator()
    totals = {"in": 0, "scored": 0, "rejected": 0, "chunks": 0}

    def account(rows_in: int, scored: int, rejected: int) -> None:
        totals["in"] += rows_in
        totals["scored"] += scored
        totals["rejected"] += rejected
        totals["chunks"] += 1
        if on_progress is not None:
            on_progress(totals["in"], source.total)

    pending: list[tuple[int, int, Future[tuple[pl.DataFrame, pl.DataFrame]]]] = []

    def drain(limit: int) -> None:
        while len(pending) > limit:
            index, rows_in, future = pending.pop(0)
            good, bad = future.result()
            sink.write(index, good, bad, rows_in)
            account(rows_in, good.height, bad.height)

    # Results are written in chunk order, so the output order equals the input order.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conveyor-score") as pool:
        try:
            for index, chunk in source.chunks(chunk_rows, set(done)):
                if chunk is None:
                    drain(0)
                    d = done[index]
                    account(d["rows_in"], d["scored"], d["rejected"])
                    continue
                future = pool.submit(_process, index, chunk, bundle, validator, chunk_rows)
                pending.append((index, chunk.height, future))
                drain(workers)
            drain(0)
        except BaseException:
            for _, _, future in pending:
                future.cancel()
            raise
    rejects_out = sink.finish(totals["chunks"], totals["rejected"])
    return BatchResult(
        rows_in=totals["in"],
        rows_scored=totals["scored"],
        rows_rejected=totals["rejected"],
        output=sink.describe,
        rejects=rejects_out,
        seconds=time.perf_counter() - started,
        resumed_chunks=len(done),
        chunks=totals["chunks"],
        notes=sink.notes,
    )
