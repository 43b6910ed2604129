"""Alembic environment for Conveyor's metadata store.

Conveyor runs migrations itself when a store opens
(:func:`conveyor.stores._migrate.upgrade_to_head`), passing its open connection
through ``config.attributes["connection"]`` so the upgrade runs inside the
caller's locked transaction. When the ``alembic`` command line is used instead
(see :func:`conveyor.stores.migration_config`), the URL comes from the
``sqlalchemy.url`` option. Every file in ``versions/`` is picked up, so new
migrations only need a new file with the right ``down_revision``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from conveyor.stores._tables import metadata as target_metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from conveyor.stores._engine import create_store_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (or pass a connection) to run Conveyor migrations")
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
