"""Where batch scoring writes: numbered Parquet parts assembled into one file, or SQL tables.

Both sinks record which chunks are done, so a rerun of the same job resumes:

- ``FileSink`` writes ``<output>.parts/part-NNNNN.parquet`` (and
  ``rejects-NNNNN.parquet`` when the chunk rejected rows) plus a
  ``_progress.json`` manifest; on completion
  the parts are streamed into the final file (atomic rename) and the parts
  directory is removed.
- ``SqlSink`` appends each chunk and its progress row (``_conveyor_batch``
  table, keyed by job id) in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.errors import ConfigError, DataError
from conveyor.serve._batch_input import parse_sql_spec, safe_url

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FileSink", "Sink", "SqlSink", "open_sink"]

_OUTPUT_KINDS = (".csv", ".parquet")
_PROGRESS = "_progress.json"


class Sink(Protocol):
    """What the job needs from an output."""

    describe: str
    notes: list[str]

    def done_chunks(self) -> dict[int, dict[str, int]]: ...

    def write(self, index: int, good: pl.DataFrame, bad: pl.DataFrame, rows_in: int) -> None: ...

    def finish(self, n_chunks: int, rejected: int) -> str | None: ...


def open_sink(output: str, rejects: str | None, job: dict[str, Any], *, resume: bool) -> Sink:
    """The sink for ``output`` (a .csv/.parquet path or ``sql://…?table=NAME``).

    Example:
        >>> sink = open_sink("scored.parquet", None, job, resume=True)  # doctest: +SKIP
    """
    if output.startswith("sql://"):
        return SqlSink(output, rejects, job, resume)
    return FileSink(output, rejects, job, resume)


class FileSink:
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
        self.describe = output
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
            if name.startswith("rejects") and not frame.height:
                continue  # the manifest says the chunk had no rejects
            tmp = self.parts / f".{name}.tmp"
            # Parts are read once, by _assemble: compressing them costs more than it saves.
            frame.write_parquet(tmp, compression="uncompressed")
            os.replace(tmp, self.parts / f"{name}.parquet")
        # A chunk counts as done only once its parts are on disk.
        self.done[str(index)] = {"rows_in": rows_in, "scored": good.height, "rejected": bad.height}
        tmp = self.parts / f".{_PROGRESS}.tmp"
        tmp.write_text(json.dumps({"job": self.job, "done": self.done}), encoding="utf-8")
        os.replace(tmp, self.parts / _PROGRESS)

    def finish(self, n_chunks: int, rejected: int) -> str | None:
        self._assemble("part", self.output, range(n_chunks))
        rejects = None
        if rejected:
            with_rejects = [i for i in range(n_chunks) if self.done[str(i)]["rejected"]]
            self._assemble("rejects", self.rejects, with_rejects)
            rejects = str(self.rejects)
        shutil.rmtree(self.parts)
        return rejects

    def _assemble(self, prefix: str, dest: Path, chunks: Iterable[int]) -> None:
        import polars as pl

        files = [self.parts / f"{prefix}-{i + 1:05d}.parquet" for i in chunks]
        lf = pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        if dest.suffix.lower() == ".csv":
            lf.sink_csv(tmp)
        else:
            lf.sink_parquet(tmp)
        os.replace(tmp, dest)


class SqlSink:
    """Appends each chunk and its progress row in one transaction."""

    def __init__(self, output: str, rejects: str | None, job: dict[str, Any], resume: bool) -> None:
        import sqlalchemy as sa

        url, opts = parse_sql_spec(output, "--output")
        if "table" not in opts or "query" in opts:
            raise ConfigError(f"--output {safe_url(url)}: name the table with ?table=NAME")
        self.engine = sa.create_engine(url)
        self.table_name = opts["table"]
        self.rejects_name = rejects or f"{self.table_name}_rejects"
        if "/" in self.rejects_name or ":" in self.rejects_name:
            raise ConfigError(
                f"--rejects {rejects}: with a SQL output, rejects go to a table; give its name"
            )
        self.describe = f"{safe_url(url)} table {self.table_name}"
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
