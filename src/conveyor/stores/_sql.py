"""Small SQL building blocks shared by the query modules (both dialects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from conveyor.stores._tables import projects

__all__ = ["ensure_project", "insert_ignoring_conflicts", "lock_project", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert_ignoring_conflicts(
    conn: sa.Connection, table: sa.Table, values: dict[str, Any], *, conflict_on: list[str]
) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``; returns whether a row was inserted.

    Safe when several processes insert the same key at once, unlike
    check-then-insert.
    """
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_on)
    return conn.execute(stmt).rowcount == 1


def ensure_project(conn: sa.Connection, name: str) -> int:
    """The id of project ``name``, created when missing."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValueError(f"project name must be 1-200 characters, got {name!r}")
    found = conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar()
    if found is not None:
        return int(found)
    insert_ignoring_conflicts(
        conn, projects, {"name": name, "created_at": utcnow()}, conflict_on=["name"]
    )
    return int(conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar_one())


def lock_project(conn: sa.Connection, project_id: int) -> None:
    """Serialise writers that number things per project (a row lock on PostgreSQL).

    SQLite needs nothing: write transactions there already start with
    ``BEGIN IMMEDIATE`` and so run one at a time.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(projects.c.id).where(projects.c.id == project_id).with_for_update())
