"""Engines for the metadata store: URL handling, SQLite pragmas, lock retries.

SQLite is tuned for several processes writing at once (a run, the server, the
agent): WAL journal so readers never block the writer, a 30 s busy timeout,
``synchronous=NORMAL`` (durable at checkpoints, safe with WAL) and foreign
keys on. Write transactions start with ``BEGIN IMMEDIATE`` so a transaction
takes the write lock up front instead of failing when it upgrades from a read
lock (the one case SQLite's busy handler cannot wait out).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from conveyor.errors import StoreError

__all__ = [
    "BUSY_TIMEOUT_S",
    "WRITE_OPTION",
    "create_store_engine",
    "default_metadata_url",
    "is_retryable",
    "mask_url",
    "normalize_url",
    "retrying",
    "sqlite_path",
]

BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "conveyor_write"
"""Execution option that makes a SQLite transaction start with ``BEGIN IMMEDIATE``."""

T = TypeVar("T")

_RETRYABLE_SQLITE = ("database is locked", "database is busy", "database table is locked")
# serialization_failure, deadlock_detected, lock_not_available
_RETRYABLE_PG_SQLSTATES = {"40001", "40P01", "55P03"}


def default_metadata_url(root: Path) -> str:
    """The default store of a project: ``sqlite:///<root>/.conveyor/conveyor.db`` (absolute).

    Example:
        >>> default_metadata_url(Path("/srv/churn"))
        'sqlite:////srv/churn/.conveyor/conveyor.db'
    """
    return f"sqlite:///{(Path(root).resolve() / '.conveyor' / 'conveyor.db').as_posix()}"


def normalize_url(url: str) -> URL:
    """Parse ``url``; PostgreSQL URLs without a driver use psycopg 3."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"metadata store URL {url!r} is not a valid SQLAlchemy URL",
            hint="use e.g. sqlite:///path/to/conveyor.db or postgresql://user@host/db",
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"metadata store {mask_url(parsed)}: backend {parsed.get_backend_name()!r} "
            "is not supported (expected sqlite or postgresql)"
        )
    return parsed


def mask_url(url: str | URL) -> str:
    """``url`` as text with any password replaced by ``***``."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def create_store_engine(url: str | URL) -> sa.Engine:
    """An engine for ``url`` configured for Conveyor's concurrency rules."""
    parsed = normalize_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, future=True)
    path = sqlite_path(parsed)
    if path is None:
        # One shared connection, or each pooled connection would see its own empty database.
        engine = sa.create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"metadata store {mask_url(parsed)}: cannot create directory {path.parent}: {exc}"
            ) from exc
        engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
    _install_sqlite_hooks(engine, wal=path is not None)
    return engine


def _install_sqlite_hooks(engine: sa.Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN; pysqlite's implicit
        # transactions would otherwise leave DDL outside any transaction.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if wal:
                _set_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _set_wal(cursor: sqlite3.Cursor) -> None:
    # Switching a fresh file to WAL needs a brief exclusive lock that the busy
    # handler does not always wait for when several processes open it at once.
    for attempt in range(50):
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if not _is_sqlite_busy(str(exc)) or attempt == 49:
                raise
            time.sleep(0.02 + random.random() * 0.05)
            continue
        if mode and str(mode[0]).lower() == "wal":
            return
        time.sleep(0.02)
    raise sqlite3.OperationalError("could not switch the database to WAL journal mode")


def _is_sqlite_busy(message: str) -> bool:
    message = message.lower()
    return any(text in message for text in _RETRYABLE_SQLITE)


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient lock/serialisation conflict worth retrying."""
    if isinstance(exc, sa.exc.DBAPIError):
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if sqlstate in _RETRYABLE_PG_SQLSTATES:
            return True
        return isinstance(orig, sqlite3.OperationalError) and _is_sqlite_busy(str(orig))
    return isinstance(exc, sqlite3.OperationalError) and _is_sqlite_busy(str(exc))


def retrying(
    fn: Callable[[], T],
    *,
    attempts: int = 8,
    what: str = "metadata store operation",
    on_error: Callable[[BaseException], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying lock conflicts with jittered backoff.

    ``fn`` must be safe to repeat: run a whole transaction inside it, so a
    retried attempt starts from a rolled-back state. Database errors that are
    not lock conflicts, or that persist after ``attempts`` tries, are raised as
    :class:`~conveyor.errors.StoreError`; ``on_error`` may raise a more
    specific error first.

    Example:
        >>> retrying(lambda: 42)
        42
    """
    delay = 0.02
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        try:
            return fn()
        except sa.exc.SQLAlchemyError as exc:
            # An attempt that already sat out SQLite's busy timeout is not retried:
            # that lock is held for good reasons (or for good), not by a passing writer.
            waited_out = time.monotonic() - started >= BUSY_TIMEOUT_S * 0.9
            if attempt < attempts and is_retryable(exc) and not waited_out:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
                continue
            if on_error is not None:
                on_error(exc)
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            hint = (
                "another process holds the database lock for too long; retry later"
                if is_retryable(exc)
                else None
            )
            raise StoreError(f"{what} failed: {detail}", hint=hint) from exc
    raise AssertionError("unreachable")  # pragma: no cover
