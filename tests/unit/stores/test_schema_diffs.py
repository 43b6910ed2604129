"""schema_diffs finds what a migration got wrong, and only for the tables asked about."""

from __future__ import annotations

import sqlalchemy as sa

from conveyor.testing.schema import schema_diffs


def _declared() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("jobs", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(50), nullable=False))  # fmt: skip
    sa.Table("events", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def test_a_faithful_migration_has_no_diff() -> None:
    engine = sa.create_engine("sqlite://")
    metadata = _declared()
    metadata.create_all(engine)
    sa.Table("unrelated", sa.MetaData(), sa.Column("x", sa.Integer)).create(engine)
    assert schema_diffs(engine, metadata, {"jobs", "events"}) == []


def test_a_missing_column_and_a_missing_table_are_reported() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE jobs (id INTEGER PRIMARY KEY)")
    diffs = schema_diffs(engine, _declared(), {"jobs", "events"})
    assert ("missing_table", "events") in diffs
    assert any(d[0] == "add_column" and d[2] == "jobs" and d[3].name == "name" for d in diffs
               if isinstance(d, tuple))  # fmt: skip
    # Asked about one table only: the other one's problems are not reported.
    only = schema_diffs(engine, _declared(), {"events"})
    assert only[0] == ("missing_table", "events")
    assert all("jobs" not in repr(d) for d in only)
