"""SQL sources: a table or a query through SQLAlchemy, read in chunks.

Tables are looked up through the database's inspector and selected with a
reflected :class:`sqlalchemy.Table`, so a name is always quoted by the
dialect, never pasted into SQL text. A ``query`` is the user's own SQL and
runs as written (``columns`` then filters its result). Rows stream from a
server-side cursor where the driver has one, in chunks of ``CHUNK_ROWS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from conveyor.config.models import SourceConfig
from conveyor.data.sources._common import (
    Progress,
    SourceRead,
    clean_names,
    did_you_mean,
    first_line,
    no_progress,
    preview,
    select_columns,
)
from conveyor.errors import DataError

CHUNK_ROWS = 50_000


def masked_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        from conveyor.config import mask_secrets

        return str(mask_secrets(str(url), ()))


def _resolve_url(source: SourceConfig, root: Path) -> URL:
    try:
        url = sa.make_url(source.url or "")
    except sa.exc.ArgumentError as exc:
        raise DataError(
            f"source {source.name!r}: {masked_url(source.url or '')!r} is not a SQLAlchemy URL",
            hint="e.g. sqlite:///data/shop.db or postgresql+psycopg://user@host/db",
        ) from exc
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # A relative SQLite file is relative to the config, like every other path;
        # and a missing file must not be silently created empty.
        db = Path(url.database)
        if not db.is_absolute():
            db = root / db
            url = url.set(database=str(db))
        if not db.is_file():
            raise DataError(
                f"source {source.name!r}: SQLite database file not found: {masked_url(url)}",
                hint="paths in sqlite:/// URLs are relative to the folder of conveyor.yaml",
            )
    return url


def _reason(exc: sa.exc.DBAPIError | Exception, url: URL) -> str:
    """The driver's own message, on one line, with the password scrubbed."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).strip().splitlines() if ln.strip()]
    # Postgres appends a caret diagram of the statement ("LINE 1: …"); keep the message.
    lines = [ln for ln in lines if not ln.startswith(("LINE ", "^"))] or lines[:1]
    text = " ".join(lines)
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def read_sql_source(
    source: SourceConfig, *, root: Path, progress: Progress = no_progress
) -> SourceRead:
    """Read a table or the result of a query into one frame."""
    url = _resolve_url(source, root)
    shown = masked_url(url)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, int(source.timeout_s))
    try:
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise DataError(
            f"source {source.name!r}: no driver for {shown}: {first_line(exc)}",
            hint="install the database driver (for PostgreSQL: pip install 'conveyor[postgres]')",
        ) from exc
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise DataError(
                f"source {source.name!r}: cannot connect to {shown}: {_reason(exc, url)}",
                hint="check that the database server is running and the URL is right",
            ) from exc
        with conn:
            frame = _read(conn, source, url, progress)
    finally:
        engine.dispose()
    where = f"source {source.name!r} ({source.table or 'query'} at {shown})"
    frame = frame.rename(dict(zip(frame.columns, clean_names(frame.columns, where))))
    if source.query:
        frame = select_columns(frame, source.columns, where)
    return SourceRead(frame, [f"{source.name}: {frame.height} rows from {shown}"])


def _read(conn: Connection, source: SourceConfig, url: URL, progress: Progress) -> pl.DataFrame:
    if source.table:
        stmt: sa.Executable = _table_select(conn, source, url)
        what = f"table {source.table!r}"
    else:
        stmt = sa.text(source.query or "")
        what = "the query"
    streaming = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS)
    try:
        result = streaming.execute(stmt)
        keys = list(result.keys())
        clean_names(keys, f"source {source.name!r}: {what}")
        chunks: list[pl.DataFrame] = []
        rows = 0
        for part in result.partitions(CHUNK_ROWS):
            chunks.append(_chunk(part, keys, source, rows))
            rows += len(part)
            progress(f"{source.name}: {rows} rows", None)
    except sa.exc.DBAPIError as exc:
        raise DataError(
            f"source {source.name!r}: the database rejected {what}: {_reason(exc, url)}",
            hint="run the query in a SQL client to check it" if source.query else None,
        ) from exc
    if not chunks:
        return pl.DataFrame(schema=dict.fromkeys(keys, pl.Null))
    try:
        return pl.concat(chunks, how="vertical_relaxed")
    except pl.exceptions.PolarsError as exc:
        raise DataError(
            f"source {source.name!r}: {what} returned mixed column types: {first_line(exc)}"
        ) from exc


def _chunk(rows: list[Any], keys: list[str], source: SourceConfig, offset: int) -> pl.DataFrame:
    columns = list(zip(*rows)) if rows else [() for _ in keys]
    return pl.DataFrame(
        [_column(k, list(v), source, offset, len(rows)) for k, v in zip(keys, columns)]
    )


def _column(name: str, values: list[Any], source: SourceConfig, offset: int, n: int) -> pl.Series:
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, pl.exceptions.PolarsError, OverflowError):
        pass
    # Mixed scalars (1 and 2.5, or 1 and 'x') relax to a common type; a value that
    # the common type cannot hold would become null, which is data loss, not relaxing.
    series = pl.Series(name, values, strict=False)
    lost = series.null_count() - sum(v is None for v in values)
    if lost or series.dtype == pl.Object:
        kinds = sorted({type(v).__name__ for v in values if v is not None})
        raise DataError(
            f"source {source.name!r}: rows {offset + 1}-{offset + n}: column {name!r} mixes "
            f"value types ({', '.join(kinds)})",
            hint="CAST the column to one type in a 'query'",
        )
    return series


def _table_select(conn: Connection, source: SourceConfig, url: URL) -> sa.Select[Any]:
    inspector = sa.inspect(conn)
    name, schema = source.table or "", None
    if not inspector.has_table(name) and "." in name:
        schema, name = name.split(".", 1)
    try:
        exists = inspector.has_table(name, schema=schema) or name in inspector.get_view_names(
            schema=schema
        )
    except sa.exc.DBAPIError as exc:
        raise DataError(
            f"source {source.name!r}: cannot list tables at {masked_url(url)}: {_reason(exc, url)}"
        ) from exc
    if not exists:
        tables = sorted(
            inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
        )
        where = f"schema {schema!r}" if schema else masked_url(url)
        raise DataError(
            f"source {source.name!r}: no table {source.table!r} in {where}{did_you_mean(name, tables)}; "
            f"tables: {preview(tables) if tables else '(none)'}"
        )
    table = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
    if not source.columns:
        return sa.select(table)
    available = [c.name for c in table.columns]
    stripped = {c.strip(): c for c in available}
    missing = [c for c in source.columns if c not in stripped]
    if missing:
        raise DataError(
            f"source {source.name!r}: table {source.table!r} has no columns {preview(missing)}"
            f"{did_you_mean(missing[0], list(stripped))}; columns: {preview(list(stripped))}"
        )
    return sa.select(*(table.c[stripped[c]] for c in source.columns))
