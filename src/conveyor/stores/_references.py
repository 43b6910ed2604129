"""Artifact rows and the set of digests the metadata store still points at.

Garbage collection must never delete a blob that something references, so the
referenced set is collected two ways:

1. by convention: every column named ``digest`` or ending in ``_digest`` in any
   table of the store (except ``artifacts`` itself, the catalogue of blobs) is
   a reference. A later module that names its column ``bundle_digest`` is
   protected without doing anything;
2. explicitly: :func:`register_reference_query` adds a SQL query returning one
   column of digests, for references stored another way (inside JSON, say).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from conveyor.errors import StoreError
from conveyor.stores._digests import validate_digest
from conveyor.stores._records import ArtifactRecord
from conveyor.stores._sql import insert_ignoring_conflicts, utcnow
from conveyor.stores._tables import artifacts

__all__ = [
    "forget_artifacts",
    "get_artifact",
    "record_artifact",
    "referenced_digests",
    "register_reference_query",
    "registered_reference_queries",
    "unregister_reference_query",
]

_QUERIES: dict[str, str] = {}
_QUERIES_LOCK = threading.Lock()
_SKIPPED_TABLES = {"artifacts", "alembic_version"}


def register_reference_query(name: str, sql: str) -> None:
    """Declare that the rows returned by ``sql`` (one column of digests) are referenced.

    Call it at import time of the module that owns the table; registering the
    same name again replaces the query. ``sql`` is fixed text written by
    Conveyor's own modules, never user input.

    Example:
        >>> register_reference_query(
        ...     "monitor.report_digests",
        ...     "SELECT report ->> 'digest' FROM monitor_results",
        ... )  # doctest: +SKIP
    """
    if not name or not sql.strip():
        raise ValueError("a reference query needs a name and SQL text")
    with _QUERIES_LOCK:
        _QUERIES[name] = sql


def unregister_reference_query(name: str) -> None:
    """Remove a query added by :func:`register_reference_query` (no-op if absent)."""
    with _QUERIES_LOCK:
        _QUERIES.pop(name, None)


def registered_reference_queries() -> dict[str, str]:
    """A copy of the explicitly registered reference queries, by name."""
    with _QUERIES_LOCK:
        return dict(_QUERIES)


def _digest_columns(conn: sa.Connection) -> list[tuple[str, str]]:
    inspector = sa.inspect(conn)
    found = []
    for table in inspector.get_table_names():
        if table in _SKIPPED_TABLES:
            continue
        for column in inspector.get_columns(table):
            name = column["name"]
            if name == "digest" or name.endswith("_digest"):
                found.append((table, name))
    return found


def referenced_digests(conn: sa.Connection) -> set[str]:
    found: set[str] = set()
    for table, column in _digest_columns(conn):
        tbl = sa.table(table, sa.column(column))
        stmt = sa.select(tbl.c[column]).where(tbl.c[column].is_not(None)).distinct()
        found.update(str(value) for value in conn.execute(stmt).scalars())
    for name, sql in registered_reference_queries().items():
        try:
            rows = conn.execute(sa.text(sql)).scalars()
            found.update(str(value) for value in rows if value is not None)
        except sa.exc.DBAPIError as exc:
            # Failing loudly is the safe choice: a partial set would let gc delete live blobs.
            raise StoreError(f"reference query {name!r} failed: {exc.orig}") from exc
    return found


def record_artifact(
    conn: sa.Connection, digest: str, *, kind: str, size: int, media_type: str | None
) -> None:
    validate_digest(digest)
    if size < 0:
        raise ValueError(f"artifact {digest}: size must be >= 0, got {size}")
    insert_ignoring_conflicts(
        conn,
        artifacts,
        {
            "digest": digest,
            "kind": kind,
            "size": size,
            "media_type": media_type,
            "created_at": utcnow(),
        },
        conflict_on=["digest"],
    )


def get_artifact(conn: sa.Connection, digest: str) -> ArtifactRecord | None:
    validate_digest(digest)
    row: Any = conn.execute(sa.select(artifacts).where(artifacts.c.digest == digest)).first()
    if row is None:
        return None
    return ArtifactRecord(
        digest=row.digest,
        kind=row.kind,
        size=row.size,
        media_type=row.media_type,
        created_at=row.created_at,
    )


def forget_artifacts(conn: sa.Connection, digests: Iterable[str]) -> int:
    wanted = [validate_digest(d) for d in digests]
    removed = 0
    # Chunked to stay under SQLite's bound-parameter limit.
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        removed += conn.execute(artifacts.delete().where(artifacts.c.digest.in_(chunk))).rowcount
    return removed
