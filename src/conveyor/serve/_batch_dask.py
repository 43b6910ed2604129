"""Batch scoring of partitioned Parquet: one output part per input part, on Dask or here.

The input is a directory of ``.parquet`` files (searched recursively, so
``date=2026-11-28/part-0.parquet`` layouts work) or a glob
(``data/flights-*.parquet``). Every part is scored by
:func:`~conveyor.serve.batch.score_loaded_bundle`, the chunked job of
``conveyor score`` (same checks, same chunk code, same resumable part
output), into ``<output>/<the part's relative path>``; its rejected rows go
to ``<output>.rejects/<relative path>``. With a Dask client each part is a
task on a worker; without one the parts are scored here, one after another.

The bundle is fetched and verified once on the client; its files are
broadcast to the workers, where each worker process loads it once (checking
the manifest digest again) and keeps it for the next parts. Inputs and
outputs must be paths every worker sees (a shared filesystem; on a local
cluster, any local path).

Resuming: ``<output>/_progress.json`` lists the parts done for this job
(same parts, model, bundle and chunk size); a rerun skips them, and a part
cut short resumes from its last finished chunk. A worker that dies mid-part
has its task rerun by Dask on another worker, which resumes the part.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, DataError

if TYPE_CHECKING:
    from conveyor.registry import ModelVersion
    from conveyor.serve.batch import BatchResult
    from conveyor.stores.artifacts import ArtifactStore

__all__ = ["is_partitioned", "list_parts", "score_partitioned"]

_GLOB_CHARS = frozenset("*?[")
_PROGRESS = "_progress.json"
_LOADED: dict[str, Any] = {}  # per worker process: manifest digest -> loaded bundle


def is_partitioned(spec: str) -> bool:
    """True when ``spec`` names partitioned Parquet: an existing directory or a glob.

    Example:
        >>> is_partitioned("data/*.parquet"), is_partitioned("data/flights.parquet")
        (True, False)
    """
    if "://" in spec:
        return False
    return bool(_GLOB_CHARS & set(spec)) or Path(spec).is_dir()


def list_parts(spec: str) -> list[tuple[Path, str]]:
    """The Parquet parts of ``spec``, sorted: ``(path, path relative to the input's root)``.

    Raises:
        DataError: nothing matches, or a matched file is not Parquet.
    """
    path = Path(spec)
    if path.is_dir():
        root, found = path, sorted(p for p in path.rglob("*.parquet") if p.is_file())
        found = [
            p for p in found if not any(s.startswith((".", "_")) for s in p.relative_to(root).parts)
        ]
    else:
        anchor = next(
            (i for i, part in enumerate(path.parts) if _GLOB_CHARS & set(part)), len(path.parts)
        )
        root = Path(*path.parts[:anchor]) if anchor else Path(".")
        pattern = str(Path(*path.parts[anchor:]))
        found = sorted(p for p in root.glob(pattern) if p.is_file())
    if not found:
        raise DataError(
            f"--input {spec}: no Parquet part found",
            hint="give a directory of .parquet files or a glob such as 'data/*.parquet'",
        )
    others = [p for p in found if p.suffix.lower() != ".parquet"]
    if others:
        raise DataError(
            f"--input {spec}: {others[0]} is not a .parquet file; partitioned input is Parquet only"
        )
    return [(p, p.relative_to(root).as_posix()) for p in found]


def score_partitioned(
    version: ModelVersion,
    artifacts: ArtifactStore,
    *,
    input: str,
    output: str,
    chunk_rows: int,
    workers: int,
    rejects: str | None,
    resume: bool,
    on_progress: Callable[[int, int | None], None] | None,
    client: Any,
) -> BatchResult:
    """Score every part of ``input`` into the directory ``output`` (see the module's doc).

    Reached through :func:`~conveyor.serve.batch.score_file`, which holds the
    options' defaults; here every option is required.

    Args:
        version, artifacts: the model version and the store holding its bundle.
        input: a directory of Parquet parts or a glob.
        output: the output directory (created; it must not be a file).
        chunk_rows: rows per chunk within a part.
        workers: threads per part when scoring here (on Dask: one per task).
        rejects: the rejects directory (default ``<output>.rejects``).
        resume: skip the parts (and chunks) a previous run of this job finished.
        on_progress: called with (rows done, total rows) as parts finish.
        client: a ``distributed.Client``, or None to score here.

    Raises:
        SchemaError: a part lacks columns the model needs (before any output).
        ConfigError: ``output`` or ``rejects`` is a file.
        DataError: no part found, or a part cannot be read or written.

    Example:
        >>> result = score_file(version, project.artifacts, input="logs/",
        ...                     output="scored/", client=executor.client)  # doctest: +SKIP
        >>> result.rows_scored  # doctest: +SKIP
        3000000
    """
    from conveyor.registry import fetch_bundle
    from conveyor.serve._batch_input import open_input
    from conveyor.serve.batch import BatchResult

    started = time.perf_counter()
    parts = list_parts(input)
    out_dir = _directory(output, "--output")
    rejects_dir = _directory(rejects or f"{output.rstrip('/')}.rejects", "--rejects")
    model = f"{version.model_name}:{version.version}"
    with tempfile.TemporaryDirectory(prefix="conveyor-score-") as tmp:
        bundle = fetch_bundle(artifacts, version, Path(tmp) / "bundle", onnx=False)
        names = bundle.signature.input_names
        sources = [open_input(str(path), names) for path, _ in parts]  # schema checks first
        files = {
            p.relative_to(bundle.path).as_posix(): p.read_bytes()
            for p in sorted(bundle.path.rglob("*"))
            if p.is_file()
        }
    total = sum(s.total or 0 for s in sources)
    job = {
        "parts": {rel: s.fingerprint for (_, rel), s in zip(parts, sources, strict=True)},
        "model": model,
        "bundle": version.bundle_digest,
        "chunk_rows": chunk_rows,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    done = _read_progress(out_dir, job) if resume else {}
    done = {rel: d for rel, d in done.items() if (out_dir / rel).is_file()}
    task = {
        "model": model,
        "bundle_digest": version.bundle_digest,
        "manifest_digest": version.manifest_digest,
        "chunk_rows": chunk_rows,
        "resume": resume,
    }
    todo = [
        (str(path), str(out_dir / rel), str(rejects_dir / rel), rel)
        for path, rel in parts
        if rel not in done
    ]
    rows_done = sum(d["rows_in"] for d in done.values())

    def record(rel: str, counts: dict[str, Any]) -> None:
        nonlocal rows_done
        done[rel] = counts
        rows_done += counts["rows_in"]
        _write_progress(out_dir, job, done)
        if on_progress is not None:
            on_progress(rows_done, total)

    if client is None:
        for path, out, rej, rel in todo:
            record(rel, _score_part(files, task, path, out, rej, workers))
    else:
        _score_on_dask(client, files, task, todo, record)
    counts = [done[rel] for _, rel in parts]
    rejected = sum(c["rejected"] for c in counts)
    notes = (
        [f"{len(parts)} part(s), {len(parts) - len(todo)} already done"]
        if len(todo) < len(parts)
        else []
    )
    return BatchResult(
        rows_in=sum(c["rows_in"] for c in counts),
        rows_scored=sum(c["scored"] for c in counts),
        rows_rejected=rejected,
        output=str(out_dir),
        rejects=str(rejects_dir) if rejected else None,
        seconds=time.perf_counter() - started,
        resumed_chunks=sum(c["resumed_chunks"] for c in counts),
        chunks=sum(c["chunks"] for c in counts),
        notes=notes + [n for c in counts for n in c["notes"]],
    )


def _score_on_dask(
    client: Any,
    files: dict[str, bytes],
    task: dict[str, Any],
    todo: list[tuple[str, str, str, str]],
    record: Callable[[str, dict[str, Any]], None],
) -> None:
    from distributed import as_completed

    if not todo:
        return
    [shipped] = client.scatter([files], broadcast=True, hash=False)
    futures = {
        client.submit(_score_part, shipped, task, path, out, rej, 1, pure=False): rel
        for path, out, rej, rel in todo
    }
    try:
        for future in as_completed(futures):
            record(futures[future], future.result())
    finally:
        for future in futures:
            future.cancel()


def _score_part(
    files: dict[str, bytes], task: dict[str, Any], path: str, out: str, rejects: str, threads: int
) -> dict[str, Any]:
    """One part, on whichever process runs it: load the bundle (once), score, report counts."""
    from conveyor.serve.batch import score_loaded_bundle

    bundle = _bundle(files, task["manifest_digest"])
    result = score_loaded_bundle(
        bundle,
        model=task["model"],
        bundle_digest=task["bundle_digest"],
        input=path,
        output=out,
        rejects=rejects,
        chunk_rows=task["chunk_rows"],
        workers=threads,
        resume=task["resume"],
    )
    return {
        "rows_in": result.rows_in,
        "scored": result.rows_scored,
        "rejected": result.rows_rejected,
        "chunks": result.chunks,
        "resumed_chunks": result.resumed_chunks,
        "notes": result.notes,
    }


def _bundle(files: dict[str, bytes], manifest_digest: str) -> Any:
    """The bundle, loaded once per process from the broadcast files and verified."""
    from conveyor.bundle import load_bundle

    loaded = _LOADED.get(manifest_digest)
    if loaded is None:
        root = Path(tempfile.mkdtemp(prefix="conveyor-bundle-"))
        for rel, data in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        loaded = load_bundle(root, expected_manifest_digest=manifest_digest, onnx=False)
        _LOADED[manifest_digest] = loaded
    return loaded


def _directory(spec: str, flag: str) -> Path:
    if "://" in spec:
        raise ConfigError(
            f"{flag} {spec}: partitioned output goes to a directory every worker sees, "
            "not to a URL or a SQL table"
        )
    path = Path(spec)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{flag} {spec}: is a file; partitioned input is written as a directory of parts",
            hint="give a directory (it is created), e.g. --output scored/",
        )
    return path


def _read_progress(out_dir: Path, job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    manifest = out_dir / _PROGRESS
    if not manifest.is_file():
        return {}
    try:
        previous = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return dict(previous.get("done", {})) if previous.get("job") == job else {}


def _write_progress(out_dir: Path, job: dict[str, Any], done: dict[str, Any]) -> None:
    tmp = out_dir / f".{_PROGRESS}.tmp"
    tmp.write_text(json.dumps({"job": job, "done": done}, default=str), encoding="utf-8")
    os.replace(tmp, out_dir / _PROGRESS)
