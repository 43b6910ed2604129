"""Schema migrations, applied automatically and safely when a store opens.

Opening a store at head costs one query (read ``alembic_version``). Otherwise
the upgrade runs under a lock so that two processes opening a brand-new store
at once do not both try to create it: an ``fcntl`` lock on a file next to the
SQLite database, or a transaction-scoped ``pg_advisory_xact_lock`` on
PostgreSQL. The second process then finds the schema at head and does nothing.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from conveyor.stores._engine import WRITE_OPTION, mask_url, sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported inside the functions: it costs ~0.1 s and is only needed
# when a store is opened, not when a module merely imports conveyor.stores.

__all__ = [
    "MIGRATIONS_DIR",
    "current_revisions",
    "head_revisions",
    "migration_config",
    "upgrade_to_head",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant identifying "Conveyor schema migration" among advisory locks.
_PG_LOCK_KEY = 0x436F6E76_6D696772 & 0x7FFFFFFFFFFFFFFF


def migration_config(url: str | None = None) -> Config:
    """An Alembic config for Conveyor's migrations (for ``alembic`` commands from Python).

    Args:
        url: database URL for commands that connect (``upgrade``, ``current``);
            not needed for ``history`` or ``heads``.

    Example:
        >>> from alembic import command
        >>> command.history(migration_config())  # doctest: +SKIP
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if url is not None:
        # ConfigParser interpolation would choke on '%' in URL-encoded passwords.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def head_revisions() -> frozenset[str]:
    """The head revision(s) of the migration scripts shipped with this package."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(migration_config()).get_heads())


def current_revisions(conn: sa.Connection) -> frozenset[str]:
    """The revision(s) the database behind ``conn`` is at (empty for a new database)."""
    from alembic.runtime.migration import MigrationContext

    return frozenset(MigrationContext.configure(conn).get_current_heads())


_QUOTED = r"""["']([^"']+)["']"""
_REVISION_RE = re.compile(r"^revision(?::[^=]*)?=\s*" + _QUOTED, re.M)
_DOWN_RE = re.compile(r"^down_revision(?::[^=]*)?=\s*(.+)$", re.M)


@functools.cache
def shipped_heads() -> frozenset[str]:
    """Head revision(s) read from the migration files without importing Alembic (~0.5 s).

    Used only to skip work when the store is already at head; a test checks it
    agrees with :func:`head_revisions`.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev, down = _REVISION_RE.search(text), _DOWN_RE.search(text)
        if rev is None or down is None:
            return frozenset()  # an unexpected layout: let Alembic decide
        revisions.add(rev.group(1))
        parents.update(re.findall(_QUOTED, down.group(1)))
    return frozenset(revisions - parents)


def _stored_revisions(conn: sa.Connection) -> frozenset[str] | None:
    """What ``alembic_version`` holds, by plain SQL; None when it cannot be read."""
    try:
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.DBAPIError:
        return None
    return frozenset(rows)


def upgrade_to_head(engine: sa.Engine) -> bool:
    """Bring the schema behind ``engine`` to head; returns whether anything ran."""
    fast = shipped_heads()
    if fast:
        with engine.connect() as conn:
            stored = _stored_revisions(conn)
            conn.rollback()
        if stored == fast:
            return False
    heads = head_revisions()
    with engine.connect() as conn:
        current = current_revisions(conn)
        conn.rollback()
    if current == heads:
        return False
    unknown = current - _known_revisions()
    if unknown:
        from conveyor.errors import StoreError

        raise StoreError(
            f"metadata store {mask_url(engine.url)} is at schema revision "
            f"{', '.join(sorted(unknown))}, which this version of Conveyor does not know",
            hint="upgrade Conveyor to the version that wrote this store",
        )
    with _migration_lock(engine), engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
            if current_revisions(conn) == heads:
                return False
            from alembic import command

            cfg = migration_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    return True


@functools.cache
def _known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migration_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    path = sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".migrate.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
