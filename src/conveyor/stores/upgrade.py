"""Explicit schema upgrades of the metadata store (``conveyor db current | upgrade``).

Opening a :class:`~conveyor.stores.MetadataStore` already applies pending
migrations under a lock. A team that shares one PostgreSQL store usually
wants to do it on purpose instead: see where the store is, see what would
run, run it once, and only then roll out the new version everywhere. These
functions read and upgrade the schema without opening the store (so looking
never migrates anything).

Example:
    >>> state = schema_state("sqlite:////srv/churn/.conveyor/conveyor.db")  # doctest: +SKIP
    >>> state.current, state.pending  # doctest: +SKIP
    (('0002_registry',), ('0003_serving', '0004_monitoring', '0005_automation', '0006_deployments'))
    >>> upgrade_store(state.url).current  # doctest: +SKIP
    ('0006_deployments',)
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from conveyor.errors import StoreError
from conveyor.stores._engine import (
    create_store_engine,
    mask_url,
    normalize_url,
    retrying,
    sqlite_path,
)
from conveyor.stores._migrate import (
    current_revisions,
    head_revisions,
    migration_config,
    upgrade_to_head,
)

__all__ = ["SchemaState", "schema_state", "upgrade_store"]


@dataclass(frozen=True)
class SchemaState:
    """Where a metadata store's schema is, relative to this version of Conveyor."""

    url: str
    """The store's URL, password masked."""
    current: tuple[str, ...]
    """Revision(s) the database is at; empty for a database without Conveyor's schema."""
    head: tuple[str, ...]
    """Revision(s) this version of Conveyor ships."""
    pending: tuple[str, ...]
    """Migrations an upgrade would apply, oldest first."""
    unknown: tuple[str, ...] = ()
    """Revisions in the database that this version does not know (written by a newer one)."""
    exists: bool = True
    """False for a SQLite file that does not exist yet (an upgrade creates it)."""

    @property
    def at_head(self) -> bool:
        return not self.pending and not self.unknown and bool(self.current)

    def describe(self) -> str:
        """One line for people: where the store is and what an upgrade would do."""
        now = ", ".join(self.current) or ("no database yet" if not self.exists else "empty")
        head = ", ".join(self.head)
        if self.unknown:
            return (
                f"metadata store {self.url}: at {now}, which this version of Conveyor does not "
                f"know (it ships up to {head})"
            )
        if not self.pending:
            return f"metadata store {self.url}: at {now} (head)"
        return (
            f"metadata store {self.url}: at {now}; head is {head} "
            f"({len(self.pending)} pending: {', '.join(self.pending)})"
        )


def _pending(current: frozenset[str]) -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migration_config())
    lower = "base" if not current else next(iter(current)) if len(current) == 1 else tuple(current)
    revisions = script.iterate_revisions("heads", lower)  # newest first
    return tuple(rev.revision for rev in reversed(list(revisions)))


def _known() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migration_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def _read(engine: sa.Engine) -> frozenset[str]:
    def read() -> frozenset[str]:
        with engine.connect() as conn:
            try:
                return current_revisions(conn)
            finally:
                conn.rollback()

    return retrying(read, what=f"reading the schema revision of {mask_url(engine.url)}")


def _state(url: sa.URL, current: frozenset[str], *, exists: bool = True) -> SchemaState:
    unknown = current - _known()
    return SchemaState(
        url=mask_url(url),
        current=tuple(sorted(current)),
        head=tuple(sorted(head_revisions())),
        pending=() if unknown else _pending(current),
        unknown=tuple(sorted(unknown)),
        exists=exists,
    )


def schema_state(url: str) -> SchemaState:
    """Read where the store at ``url`` is, changing nothing (a missing SQLite file stays missing).

    Raises:
        StoreError: the URL is invalid or the database cannot be reached.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None and not path.exists():
            return _state(parsed, frozenset(), exists=False)
    engine = create_store_engine(parsed)
    try:
        return _state(parsed, _read(engine))
    finally:
        engine.dispose()


def upgrade_store(url: str, *, dry_run: bool = False) -> tuple[SchemaState, SchemaState]:
    """Apply every pending migration to the store at ``url``; returns (before, after).

    With ``dry_run`` nothing is applied and ``after`` is ``before``. The
    upgrade runs in one transaction under the same lock as an automatic
    upgrade on open, so it is safe while servers still use the store.

    Raises:
        StoreError: the store is at a revision this version of Conveyor does
            not know (it was written by a newer version), or a migration failed
            (nothing is applied then).
    """
    before = schema_state(url)
    if before.unknown:
        raise StoreError(
            f"{before.describe()}; refusing to upgrade it",
            hint="run the Conveyor version that wrote this store (or newer)",
        )
    if dry_run or not before.pending:
        return before, before
    parsed = normalize_url(url)
    engine = create_store_engine(parsed)
    try:
        retrying(lambda: upgrade_to_head(engine), what=f"upgrading {mask_url(parsed)}")
        after = _state(parsed, _read(engine))
    finally:
        engine.dispose()
    return before, after
