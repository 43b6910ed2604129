"""Does a migrated database hold exactly the tables a module declares?

Each store module keeps its SQLAlchemy tables beside a migration that spells them
out again; the tests compare the two with Alembic's autogenerate, table by table.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

__all__ = ["schema_diffs"]


def schema_diffs(engine: sa.Engine, metadata: sa.MetaData, tables: Collection[str]) -> list[Any]:
    """Differences between ``tables`` as ``metadata`` declares them and as the database has them.

    Alembic's ``compare_metadata`` (types compared too), kept to the named tables and
    their columns, indexes and constraints; a named table the database lacks is listed
    as ``("missing_table", name)``. ``[]`` when the migrations create exactly the tables.

    Example:
        >>> assert schema_diffs(store.engine, metadata, {"alerts", "decisions"}) == []  # doctest: +SKIP
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    wanted = set(tables)

    def include_object(obj: Any, name: str | None, kind: str, *_: Any) -> bool:
        return _table_name(obj, name, kind) in wanted

    with engine.connect() as conn:
        missing = wanted - set(sa.inspect(conn).get_table_names())
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: kind != "table" or name in wanted,
                "include_object": include_object,
            },
        )
        diffs = compare_metadata(context, metadata)
    return [("missing_table", name) for name in sorted(missing)] + list(diffs)


def _table_name(obj: Any, name: str | None, kind: str) -> str | None:
    if kind == "table":
        return name
    table = getattr(obj, "table", None)  # columns, indexes, constraints
    return getattr(table, "name", None)
