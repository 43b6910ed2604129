"""Batch scoring (``conveyor score``): streaming, bounded-memory and resumable.

The input is read in fixed slices of ``chunk_rows`` rows (chunk *i* is always
rows ``[i*chunk_rows, (i+1)*chunk_rows)``, so a rerun cuts the same chunks).
Each chunk is type-checked column-wise in polars, then checked against the
bundle signature, scored by the Python pipeline on a thread pool, and written
as its own part. Rows that fail validation go to the rejects output with
``__row`` (0-based input row) and ``__reason``.

File outputs write ``<output>.parts/part-NNNNN.parquet`` and a
``_progress.json`` manifest; on completion the parts are streamed into the
final file (atomic rename) and the parts directory is removed. A rerun with
the same input fingerprint, model version and ``chunk_rows`` skips the chunks
already done. SQL outputs append each chunk and its progress row in one
transaction (``_conveyor_batch`` table, keyed by job id).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, DataError, SchemaError

if TYPE_CHECKING:
    import polars as pl

    from conveyor.bundle import InputField, LoadedBundle
    from conveyor.registry import ModelVersion
    from conveyor.stores.artifacts import ArtifactStore

__all__ = ["BatchResult", "score_file"]

log = logging.getLogger(__name__)

_FILE_KINDS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_OUTPUT_KINDS = (".csv", ".parquet")
_PROGRESS = "_progress.json"


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


# ---------------------------------------------------------------- input


@dataclass
class _Source:
    describe: str
    columns: list[str]
    total: int | None
    fingerprint: dict[str, Any]
    chunks: Callable[[int, set[int]], Iterator[tuple[int, pl.DataFrame | None]]]


def _open_input(spec: str, names: list[str], chunk_rows: int) -> _Source:
    if spec.startswith("sql://"):
        return _open_sql_input(spec, names, chunk_rows)
    import polars as pl

    path = Path(spec)
    kind = _FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"--input {spec}: cannot read '{path.suffix or 'no extension'}'",
            hint="use .csv, .parquet, .jsonl or sql://<url>?table=NAME",
        )
    if not path.is_file():
        raise DataError(f"--input {spec}: no such file")
    try:
        if kind == "parquet":
            lf = pl.scan_parquet(path)
        elif kind == "csv":
            # Input columns are read as text and typed per chunk, so one bad value
            # rejects its row instead of failing the whole file.
            header = pl.scan_csv(path, n_rows=0).collect_schema().names()
            overrides = {n: pl.String for n in names if n in header}
            lf = pl.scan_csv(path, schema_overrides=overrides, infer_schema_length=10_000)
        else:
            lf = pl.scan_ndjson(path, infer_schema_length=10_000)
        columns = lf.collect_schema().names()
        _check_columns(spec, columns, names)
        total = int(lf.select(pl.len()).collect().item())
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"--input {spec}: cannot read it as {kind}: {exc}") from exc
    stat = path.stat()
    fingerprint = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def chunks(size: int, skip: set[int]) -> Iterator[tuple[int, pl.DataFrame | None]]:
        n_chunks = max(1, -(-total // size))
        for index in range(n_chunks):
            if index in skip:
                yield index, None
                continue
            try:
                yield index, lf.slice(index * size, size).collect()
            except pl.exceptions.PolarsError as exc:
                raise DataError(
                    f"--input {spec}: rows {index * size}..{(index + 1) * size - 1}: {exc}",
                    hint="a column changes type deep in the file; convert it to Parquet first",
                ) from exc

    return _Source(spec, columns, total, fingerprint, chunks)


def _check_columns(spec: str, columns: list[str], names: list[str]) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        raise SchemaError(
            f"--input {spec}: missing column(s) {', '.join(missing)} that the model needs; "
            f"the input has: {', '.join(columns)}"
        )


def _parse_sql(spec: str, option: str) -> tuple[Any, dict[str, str]]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(spec.removeprefix("sql://"))
    except ArgumentError as exc:
        raise ConfigError(f"{option} {spec}: not a SQLAlchemy URL after sql:// ({exc})") from exc
    ours = {k: str(url.query[k]) for k in ("table", "query") if k in url.query}
    return url.difference_update_query(list(ours)), ours


def _sql_table(name: str) -> Any:
    import sqlalchemy as sa

    schema, _, table = name.rpartition(".")
    return sa.table(table, schema=schema or None)


def _open_sql_input(spec: str, names: list[str], chunk_rows: int) -> _Source:
    import polars as pl
    import sqlalchemy as sa

    url, opts = _parse_sql(spec, "--input")
    if ("table" in opts) == ("query" in opts):
        raise ConfigError(f"--input {spec}: give exactly one of ?table=NAME or ?query=SELECT…")
    engine = sa.create_engine(url)
    if "table" in opts:
        stmt: Any = sa.select(sa.text("*")).select_from(_sql_table(opts["table"]))
        count_stmt: Any = sa.select(sa.func.count()).select_from(_sql_table(opts["table"]))
    else:
        stmt = sa.text(opts["query"])
        count_stmt = None
    try:
        with engine.connect() as conn:
            columns = list(conn.execute(stmt.limit(0) if count_stmt is not None else stmt).keys())
            total = int(conn.execute(count_stmt).scalar_one()) if count_stmt is not None else None
    except sa.exc.SQLAlchemyError as exc:
        raise DataError(
            f"--input {_safe_url(url)}: {type(exc).__name__}: {exc.orig or exc}"
        ) from exc
    _check_columns(_safe_url(url), columns, names)
    fingerprint = {"url": _safe_url(url), **opts}

    def chunks(size: int, skip: set[int]) -> Iterator[tuple[int, pl.DataFrame | None]]:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(stmt)
            index = -1
            for index, rows in enumerate(result.partitions(size)):
                if index in skip:
                    yield index, None
                    continue
                yield (
                    index,
                    pl.DataFrame(
                        [tuple(r) for r in rows],
                        schema=columns,
                        orient="row",
                        infer_schema_length=None,
                    ),
                )
            if index < 0:  # an empty result is still one (empty) chunk, like an empty file
                yield 0, pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
        engine.dispose()

    return _Source(_safe_url(url), columns, total, fingerprint, chunks)


def _safe_url(url: Any) -> str:
    return url.render_as_string(hide_password=True)


# ---------------------------------------------------------------- validate + score


def _coerce(chunk: pl.DataFrame, bundle: LoadedBundle) -> tuple[pl.DataFrame, list[str | None]]:
    """Type the input columns like the signature; per-row reason for values that cannot be."""
    import polars as pl

    reasons: list[str | None] = [None] * chunk.height
    exprs: list[pl.Series] = []
    for f in bundle.signature.inputs:
        raw = chunk.get_column(f.name)
        if f.type in ("number", "integer"):
            typed = _to_float(raw)
            bad = raw.is_not_null() & typed.is_null()
            if f.type == "integer":
                frac = typed.is_not_null() & typed.is_finite() & (typed.round(0) != typed)
                bad = bad | frac.fill_null(False)
            target = pl.Int64 if f.type == "integer" else pl.Float64
            expect = f.type
        elif f.type == "boolean":
            typed = _to_bool(raw)
            bad = raw.is_not_null() & typed.is_null()
            target, expect = pl.Boolean, "boolean"
        elif f.type == "string":
            typed = raw.cast(pl.String)
            bad = pl.Series(f.name, [False] * chunk.height, dtype=pl.Boolean)
            target, expect = pl.String, "string"
        else:  # datetimes are parsed by the signature validator itself
            exprs.append(raw)
            continue
        bad_rows = bad.arg_true()
        for i in bad_rows.to_list():
            reasons[i] = _join(reasons[i], f"field {f.name!r}: expected {expect}, got {raw[i]!r}")
        if len(bad_rows):
            typed = typed.scatter(bad_rows, None)
        typed = typed.cast(target, strict=False).alias(f.name)
        _check_values(f, typed, reasons)
        exprs.append(typed)
    frame = pl.DataFrame(exprs)
    return frame, reasons


def _check_values(f: InputField, typed: pl.Series, reasons: list[str | None]) -> None:
    """Null, NaN and category checks of one typed column, worded like the record validator."""
    import polars as pl

    checks: list[tuple[pl.Series, Callable[[Any], str]]] = []
    if not f.nullable:
        checks.append(
            (typed.is_null(), lambda _v: f"field {f.name!r} is null but is required ({f.type})")
        )
    if f.type == "number":
        checks.append(
            (
                (typed.is_nan() | typed.is_infinite()).fill_null(False),
                lambda v: f"field {f.name!r}: {v} is not allowed (send null for a missing value)",
            )
        )
    if f.categories is not None:
        kind = {"string": str, "boolean": bool}.get(f.type, float)
        allowed = [c for c in f.categories if isinstance(c, kind) or kind is float]
        shown = ", ".join(str(c) for c in f.categories[:10])
        if len(f.categories) > 10:
            shown += f", … ({len(f.categories)} in all)"
        checks.append(
            (
                (
                    ~typed.is_in(pl.Series(allowed, dtype=typed.dtype, strict=False).implode())
                ).fill_null(False),
                lambda v: f"field {f.name!r}: unknown category {v!r} (allowed: {shown})",
            )
        )
    for mask, message in checks:
        for i in mask.arg_true().to_list():
            reasons[i] = _join(reasons[i], message(typed[i]))


def _to_float(raw: pl.Series) -> pl.Series:
    import polars as pl

    if raw.dtype == pl.String:
        return raw.str.strip_chars().cast(pl.Float64, strict=False)
    if raw.dtype == pl.Boolean:
        return pl.Series(raw.name, [None] * raw.len(), dtype=pl.Float64)
    return raw.cast(pl.Float64, strict=False)


def _to_bool(raw: pl.Series) -> pl.Series:
    import polars as pl

    if raw.dtype == pl.Boolean:
        return raw
    text = raw.cast(pl.String).str.strip_chars().str.to_lowercase()
    mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    return text.replace_strict(mapping, default=None, return_dtype=pl.Boolean)


def _join(old: str | None, new: str) -> str:
    return new if old is None else f"{old}; {new}"


def _process(
    index: int, chunk: pl.DataFrame, bundle: LoadedBundle, validator: Any, chunk_rows: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate and score one chunk: (scored rows, rejected rows)."""
    import polars as pl

    typed, reasons = _coerce(chunk, bundle)
    names = bundle.signature.input_names
    if any(f.type == "datetime" for f in bundle.signature.inputs):
        # Datetimes have many spellings; the signature's own parser is the reference.
        columns, errors = validator.columns(typed.to_dicts())
        for err in errors:
            reasons[err.index] = _join(reasons[err.index], err.message.split(": ", 1)[-1])
    else:  # every check was vectorised in _coerce
        columns = None
    keep = [i for i, r in enumerate(reasons) if r is None]
    bad = [i for i, r in enumerate(reasons) if r is not None]
    first = index * chunk_rows
    rejected = (
        chunk[bad]
        .select(pl.all().cast(pl.String))
        .with_columns(
            pl.Series("__row", [first + i for i in bad], dtype=pl.Int64),
            pl.Series("__reason", [reasons[i] for i in bad], dtype=pl.String),
        )
    )
    good = chunk[keep].with_columns(typed[keep].select(names))
    classes = bundle.signature.classes or []
    if keep:
        if columns is None:
            X = validator.frame({n: good.get_column(n).to_list() for n in names})
        else:
            X = validator.frame({n: [columns[n][i] for i in keep] for n in names})
        prediction = pl.Series("prediction", list(bundle.predict(X)))
        proba = bundle.predict_proba(X) if classes else None
    else:  # every row rejected: an empty part with the same columns
        prediction = pl.Series("prediction", [], dtype=pl.Null)
        proba = None
    good = good.with_columns(prediction)
    good = good.with_columns(
        [
            pl.Series(f"proba_{c}", [] if proba is None else proba[:, i].astype(float), pl.Float64)
            for i, c in enumerate(classes)
        ]
    )
    return good, rejected


# ---------------------------------------------------------------- outputs


class _FileSink:
    """Numbered Parquet parts plus a progress manifest, assembled into one file at the end."""

    def __init__(self, output: str, rejects: str | None, job: dict[str, Any], resume: bool) -> None:
        self.output = Path(output)
        suffix = self.output.suffix.lower()
        if suffix not in _OUTPUT_KINDS:
            raise ConfigError(
                f"--output {output}: write .csv, .parquet or sql://<url>?table=NAME, "
                f"got '{suffix or 'no extension'}'"
            )
        self.rejects = (
            Path(rejects)
            if rejects
            else self.output.with_name(f"{self.output.stem}.rejects{suffix}")
        )
        if self.rejects.suffix.lower() not in _OUTPUT_KINDS:
            raise ConfigError(f"--rejects {rejects}: write .csv or .parquet")
        self.parts = self.output.with_name(f"{self.output.name}.parts")
        self.job = job
        self.notes: list[str] = []
        self.done: dict[str, dict[str, int]] = {}
        manifest = self.parts / _PROGRESS
        if manifest.is_file() and resume:
            try:
                previous = json.loads(manifest.read_text(encoding="utf-8"))
            except ValueError:
                previous = {}
            if previous.get("job") == job:
                self.done = previous.get("done", {})
            else:
                self.notes.append(
                    f"{self.parts}: progress of an earlier job (different input, model or "
                    "chunk size) was discarded; starting over"
                )
        if not self.done and self.parts.exists():
            shutil.rmtree(self.parts)
        self.parts.mkdir(parents=True, exist_ok=True)

    def done_chunks(self) -> dict[int, dict[str, int]]:
        return {int(k): v for k, v in self.done.items()}

    def write(self, index: int, good: pl.DataFrame, bad: pl.DataFrame, rows_in: int) -> None:
        for name, frame in ((f"part-{index + 1:05d}", good), (f"rejects-{index + 1:05d}", bad)):
            tmp = self.parts / f".{name}.tmp"
            frame.write_parquet(tmp)
            os.replace(tmp, self.parts / f"{name}.parquet")
        # A chunk counts as done only once both of its parts are on disk.
        self.done[str(index)] = {"rows_in": rows_in, "scored": good.height, "rejected": bad.height}
        tmp = self.parts / f".{_PROGRESS}.tmp"
        tmp.write_text(json.dumps({"job": self.job, "done": self.done}), encoding="utf-8")
        os.replace(tmp, self.parts / _PROGRESS)

    def finish(self, n_chunks: int, rejected: int) -> str | None:
        self._assemble("part", self.output, n_chunks)
        rejects = None
        if rejected:
            self._assemble("rejects", self.rejects, n_chunks)
            rejects = str(self.rejects)
        shutil.rmtree(self.parts)
        return rejects

    def _assemble(self, prefix: str, dest: Path, n_chunks: int) -> None:
        import polars as pl

        files = [self.parts / f"{prefix}-{i + 1:05d}.parquet" for i in range(n_chunks)]
        lf = pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        if dest.suffix.lower() == ".csv":
            lf.sink_csv(tmp)
        else:
            lf.sink_parquet(tmp)
        os.replace(tmp, dest)


class _SqlSink:
    """Appends each chunk and its progress row in one transaction."""

    def __init__(self, output: str, rejects: str | None, job: dict[str, Any], resume: bool) -> None:
        import sqlalchemy as sa

        url, opts = _parse_sql(output, "--output")
        if "table" not in opts or "query" in opts:
            raise ConfigError(f"--output {_safe_url(url)}: name the table with ?table=NAME")
        self.engine = sa.create_engine(url)
        self.table_name = opts["table"]
        self.rejects_name = rejects or f"{self.table_name}_rejects"
        if "/" in self.rejects_name or ":" in self.rejects_name:
            raise ConfigError(
                f"--rejects {rejects}: with a SQL output, rejects go to a table; give its name"
            )
        self.describe = f"{_safe_url(url)} table {self.table_name}"
        self.job_id = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:32]
        self.notes: list[str] = []
        self.meta = sa.MetaData()
        self.progress = sa.Table(
            "_conveyor_batch",
            self.meta,
            sa.Column("job_id", sa.String(64), primary_key=True),
            sa.Column("chunk", sa.Integer, primary_key=True),
            sa.Column("rows_in", sa.Integer, nullable=False),
            sa.Column("scored", sa.Integer, nullable=False),
            sa.Column("rejected", sa.Integer, nullable=False),
        )
        self.tables: dict[str, Any] = {}
        try:
            self.progress.create(self.engine, checkfirst=True)
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(self.progress).where(self.progress.c.job_id == self.job_id)
                ).all()
            exists = sa.inspect(self.engine).has_table(*_split(self.table_name)[::-1])
        except sa.exc.SQLAlchemyError as exc:
            raise DataError(f"--output {self.describe}: {exc.orig or exc}") from exc
        if exists and (not rows or not resume):
            raise ConfigError(
                f"--output {self.describe}: the table already exists"
                + (" and holds rows of this job" if rows else " and was not written by this job"),
                hint="write to a new table, or drop it first (SQL outputs are append-only)",
            )
        self.done = {
            r.chunk: {"rows_in": r.rows_in, "scored": r.scored, "rejected": r.rejected}
            for r in rows
        }

    def done_chunks(self) -> dict[int, dict[str, int]]:
        return dict(self.done)

    def _table(self, name: str, frame: pl.DataFrame) -> Any:
        import sqlalchemy as sa

        if name not in self.tables:
            schema, table = _split(name)
            cols = [sa.Column(c, _sa_type(t)) for c, t in frame.schema.items()]
            self.tables[name] = sa.Table(table, self.meta, *cols, schema=schema)
            self.tables[name].create(self.engine, checkfirst=True)
        return self.tables[name]

    def write(self, index: int, good: pl.DataFrame, bad: pl.DataFrame, rows_in: int) -> None:
        import sqlalchemy as sa

        try:
            with self.engine.begin() as conn:
                for name, frame in ((self.table_name, good), (self.rejects_name, bad)):
                    if frame.height:
                        conn.execute(sa.insert(self._table(name, frame)), frame.to_dicts())
                conn.execute(
                    sa.insert(self.progress),
                    {
                        "job_id": self.job_id,
                        "chunk": index,
                        "rows_in": rows_in,
                        "scored": good.height,
                        "rejected": bad.height,
                    },
                )
        except sa.exc.SQLAlchemyError as exc:
            raise DataError(f"--output {self.describe}: chunk {index}: {exc.orig or exc}") from exc

    def finish(self, n_chunks: int, rejected: int) -> str | None:
        self.engine.dispose()
        return f"{self.rejects_name} (table)" if rejected else None


def _split(name: str) -> tuple[str | None, str]:
    schema, _, table = name.rpartition(".")
    return schema or None, table


def _sa_type(dtype: Any) -> Any:
    import polars as pl
    import sqlalchemy as sa

    if dtype.is_float():
        return sa.Float()
    if dtype.is_integer():
        return sa.BigInteger()
    if dtype == pl.Boolean:
        return sa.Boolean()
    if dtype.is_temporal():
        return sa.DateTime()
    return sa.Text()


# ---------------------------------------------------------------- the job


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
) -> BatchResult:
    """Score ``input`` chunk by chunk with ``version`` and write ``output`` (resumable).

    Args:
        version: the registered model version.
        artifacts: the project's artifact store (holds the bundle).
        input: a .csv/.parquet/.jsonl path or ``sql://<sqlalchemy-url>?table=NAME``
            (or ``?query=SELECT…``).
        output: a .csv/.parquet path or ``sql://<sqlalchemy-url>?table=NAME``.
        chunk_rows: rows per chunk; memory is bounded by about ``workers + 2`` chunks.
        workers: chunks scored at the same time (threads).
        rejects: where rejected rows go: a .csv/.parquet path (default
            ``<output stem>.rejects<suffix>``) or, for SQL outputs, a table name
            (default ``<table>_rejects``).
        resume: skip chunks a previous run of the same job finished.
        on_progress: called with (rows done, total rows or None) after each chunk.

    Raises:
        SchemaError: the input lacks columns the model needs (before any output).
        ConfigError: bad input/output specification, or a SQL table that exists.
        DataError: the input cannot be read or the output cannot be written.
    """
    from conveyor.registry import fetch_bundle

    if chunk_rows < 1 or workers < 1:
        raise ConfigError(f"chunk_rows and workers must be >= 1, got {chunk_rows} and {workers}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="conveyor-score-") as tmp:
        bundle = fetch_bundle(artifacts, version, Path(tmp) / "bundle", onnx=False)
        names = bundle.signature.input_names
        source = _open_input(input, names, chunk_rows)
        job = {
            "input": source.fingerprint,
            "model": f"{version.model_name}:{version.version}",
            "bundle": version.bundle_digest,
            "chunk_rows": chunk_rows,
        }
        sink: Any = (
            _SqlSink(output, rejects, job, resume)
            if output.startswith("sql://")
            else _FileSink(output, rejects, job, resume)
        )
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
        output=output if not output.startswith("sql://") else sink.describe,
        rejects=rejects_out,
        seconds=time.perf_counter() - started,
        resumed_chunks=len(done),
        chunks=totals["chunks"],
        notes=sink.notes,
    )
