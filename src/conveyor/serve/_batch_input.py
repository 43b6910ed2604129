"""Where batch scoring reads from: a file (CSV, Parquet, JSON lines) or a SQL table/query.

A source is opened once (columns checked against the model's inputs, rows
counted when that is cheap) and then yields fixed slices: chunk *i* is always
rows ``[i*size, (i+1)*size)``, so a rerun cuts the same chunks and can skip
the ones a previous run finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, DataError, SchemaError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Source", "open_input", "parse_sql_spec", "safe_url"]

_FILE_KINDS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# (chunk size, chunks to skip) -> (index, chunk or None when skipped), in order.
ChunkReader = Callable[[int, set[int]], Iterator[tuple[int, "pl.DataFrame | None"]]]


@dataclass
class Source:
    """An opened batch input.

    Attributes:
        describe: the input as shown to the user (SQL URLs without password).
        columns: its column names.
        total: its row count, or None when unknown (a SQL query).
        fingerprint: what identifies this input for resuming (path, size, mtime; or URL).
        chunks: ``chunks(size, skip)`` yields ``(index, frame)``; ``frame`` is None
            for the indices in ``skip``.
    """

    describe: str
    columns: list[str]
    total: int | None
    fingerprint: dict[str, Any]
    chunks: ChunkReader


def open_input(spec: str, names: list[str]) -> Source:
    """Open ``spec`` (a .csv/.parquet/.jsonl path or ``sql://…``) for the inputs ``names``.

    Example:
        >>> source = open_input("flights.parquet", ["date", "distance"])  # doctest: +SKIP
        >>> for index, frame in source.chunks(100_000, set()): ...  # doctest: +SKIP

    Raises:
        ConfigError: unknown file kind, or a malformed SQL specification.
        DataError: the file is missing or cannot be read.
        SchemaError: the input lacks columns in ``names``.
    """
    if spec.startswith("sql://"):
        return _open_sql_input(spec, names)
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

    return Source(spec, columns, total, fingerprint, chunks)


def _check_columns(spec: str, columns: list[str], names: list[str]) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        raise SchemaError(
            f"--input {spec}: missing column(s) {', '.join(missing)} that the model needs; "
            f"the input has: {', '.join(columns)}"
        )


def parse_sql_spec(spec: str, option: str) -> tuple[Any, dict[str, str]]:
    """``sql://<sqlalchemy-url>?table=…`` as (URL without our keys, {table/query: value})."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(spec.removeprefix("sql://"))
    except ArgumentError as exc:
        raise ConfigError(f"{option} {spec}: not a SQLAlchemy URL after sql:// ({exc})") from exc
    ours = {k: str(url.query[k]) for k in ("table", "query") if k in url.query}
    return url.difference_update_query(list(ours)), ours


def safe_url(url: Any) -> str:
    """The URL as text with its password hidden."""
    return url.render_as_string(hide_password=True)


def _sql_table(name: str) -> Any:
    import sqlalchemy as sa

    schema, _, table = name.rpartition(".")
    return sa.table(table, schema=schema or None)


def _open_sql_input(spec: str, names: list[str]) -> Source:
    import polars as pl
    import sqlalchemy as sa

    url, opts = parse_sql_spec(spec, "--input")
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
            f"--input {safe_url(url)}: {type(exc).__name__}: {exc.orig or exc}"
        ) from exc
    _check_columns(safe_url(url), columns, names)
    fingerprint = {"url": safe_url(url), **opts}

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

    return Source(safe_url(url), columns, total, fingerprint, chunks)
