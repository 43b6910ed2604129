"""Opening stores: URLs, SQLite settings, automatic migrations, lock retries."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from conveyor.errors import StoreError
from conveyor.stores import (
    MetadataStore,
    _migrate,
    default_metadata_url,
    head_revisions,
    migration_config,
    retrying,
)
from conveyor.stores._engine import mask_url, normalize_url
from conveyor.stores._tables import metadata as store_tables


def test_default_url_is_absolute_sqlite_under_dot_conveyor(tmp_path: Path) -> None:
    url = default_metadata_url(tmp_path / "proj" / ".." / "proj")
    assert url == f"sqlite:///{tmp_path.resolve()}/proj/.conveyor/conveyor.db"


def test_postgres_urls_use_psycopg_and_passwords_are_masked() -> None:
    for given in ("postgresql://u:s3cret@db/x", "postgres://u:s3cret@db/x"):
        parsed = normalize_url(given)
        assert parsed.drivername == "postgresql+psycopg"
        assert "s3cret" not in mask_url(parsed) and "***" in mask_url(parsed)
    assert normalize_url("postgresql+psycopg://u@db/x").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://u@h/db", "'mysql' is not supported"), ("not a url", "not a valid SQLAlchemy URL")],
)
def test_unsupported_or_malformed_urls_are_store_errors(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        MetadataStore(url)


def test_sqlite_store_creates_parent_dir_and_uses_wal(tmp_path: Path) -> None:
    with MetadataStore(f"sqlite:///{tmp_path}/a/b/conveyor.db") as store:
        assert store.dialect == "sqlite" and store.migrated
        with store.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000,
                      "synchronous": 1}  # fmt: skip
    assert (tmp_path / "a" / "b" / "conveyor.db").is_file()


def test_in_memory_sqlite_store_works_across_calls() -> None:
    with MetadataStore("sqlite://") as store:
        run_id = store.create_run("p", config={}, config_fingerprint="f")
        assert store.get_run(run_id).project == "p"


def test_reopening_a_store_at_head_runs_no_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/conveyor.db"
    MetadataStore(url).close()

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("upgrade must not run on a store at head")

    monkeypatch.setattr(command, "upgrade", forbidden)
    started = time.perf_counter()
    with MetadataStore(url) as store:
        assert store.migrated is False
    assert time.perf_counter() - started < 2.0


def test_migration_history_starts_with_0001_initial() -> None:
    script = ScriptDirectory.from_config(migration_config())
    revisions = {rev.revision: rev for rev in script.walk_revisions()}
    assert "0001_initial" in revisions
    assert revisions["0001_initial"].down_revision is None
    assert len(head_revisions()) == 1
    assert script.get_base() == "0001_initial"


def test_alembic_commands_work_through_migration_config(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    config = migration_config()
    config.stdout = io.StringIO()
    command.history(config)
    assert "-> 0001_initial" in config.stdout.getvalue()
    command.upgrade(migration_config(url), "head")
    with MetadataStore(url) as store:
        assert store.migrated is False


OUR_TABLES = {"projects", "runs", "steps", "step_artifacts", "artifacts", "dataset_versions"}


def _table_of(obj: object, name: str | None, kind: str) -> str | None:
    if kind == "table":
        return name
    table = getattr(obj, "table", None)
    return getattr(table, "name", None)


def test_tables_module_matches_the_migrations(metadata_url: str) -> None:
    with MetadataStore(metadata_url) as store, store.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                # Later modules' tables (the registry's, …) are checked by their own tests.
                "include_name": lambda name, kind, _parents: kind != "table" or name in OUR_TABLES,
                "include_object": lambda obj, name, kind, _reflected, _other: (
                    _table_of(obj, name, kind) in OUR_TABLES
                ),
            },
        )
        diffs = compare_metadata(context, store_tables)
    assert diffs == []


def test_unknown_schema_revision_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/future.db"
    MetadataStore(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match="9999_future"):
        MetadataStore(url)


def test_a_half_created_store_is_completed_on_open(tmp_path: Path) -> None:
    """SQLite DDL runs in the migration transaction: a failed upgrade leaves nothing."""
    url = f"sqlite:///{tmp_path}/conveyor.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE projects (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(StoreError, match="projects"):
        MetadataStore(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert tables == {"projects"}, "the failed migration must roll back completely"


def test_writer_waits_for_a_lock_held_by_another_process_style_connection(
    tmp_path: Path,
) -> None:
    db = tmp_path / "conveyor.db"
    with MetadataStore(f"sqlite:///{db}") as store:
        holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(0.3, holder.execute, args=("COMMIT",))
        releaser.start()
        started = time.perf_counter()
        run_id = store.create_run("p", config={}, config_fingerprint="f")
        waited = time.perf_counter() - started
        releaser.join()
        holder.close()
        assert store.get_run(run_id).status == "running"
        assert waited >= 0.2, "the write should have waited for the lock"


def test_retrying_retries_lock_errors_then_gives_a_store_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    locked = sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise locked
        return "done"

    assert retrying(flaky) == "done" and len(calls) == 3

    def always_locked() -> None:
        raise locked

    with pytest.raises(StoreError, match="database is locked") as info:
        retrying(always_locked, attempts=4, what="saving run abc")
    assert "saving run abc failed" in str(info.value) and info.value.hint

    broken = sa.exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE failed"))
    calls.clear()

    def not_retryable() -> None:
        calls.append(1)
        raise broken

    with pytest.raises(StoreError, match="UNIQUE failed"):
        retrying(not_retryable)
    assert len(calls) == 1, "only lock conflicts are retried"


def test_migration_lock_file_sits_next_to_the_database(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/conveyor.db")
    with _migrate._migration_lock(engine):
        assert (tmp_path / "conveyor.db.migrate.lock").exists()
    engine.dispose()


def test_fast_head_check_agrees_with_alembic() -> None:
    """The at-head shortcut reads the migration files itself; it must see what Alembic sees."""
    from conveyor.stores._migrate import head_revisions, shipped_heads

    assert shipped_heads() == head_revisions()
