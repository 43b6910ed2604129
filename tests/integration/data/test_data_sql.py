"""SQL sources against a real SQLite file and the local PostgreSQL server."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from conveyor.config.models import SourceConfig
from conveyor.data.sources import _sql as sql_module
from conveyor.data.sources import collect, read_source
from conveyor.errors import DataError


def sql(url: str, **options: object) -> SourceConfig:
    return SourceConfig(name="db", type="sql", url=url, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- SQLite


def test_sqlite_table_reads_churn(churn_sqlite: Path, churn_frame: pl.DataFrame) -> None:
    frame = read_source(sql("sqlite:///churn.db", table="churn"), root=churn_sqlite.parent)
    assert frame.shape == (7043, 20)
    assert frame["total_charges"].null_count() == 11
    assert_frame_equal(frame, churn_frame)


def test_sqlite_query_and_columns(churn_sqlite: Path, churn_frame: pl.DataFrame) -> None:
    root = churn_sqlite.parent
    query = "SELECT churn, tenure, total_charges FROM churn WHERE tenure > 70"
    frame = read_source(
        sql("sqlite:///churn.db", query=query, columns=["tenure", "churn"]), root=root
    )
    expected = churn_frame.filter(pl.col("tenure") > 70).select("tenure", "churn")
    assert_frame_equal(frame, expected)
    table = read_source(sql("sqlite:///churn.db", table="churn", columns=["churn"]), root=root)
    assert table.columns == ["churn"] and table.height == 7043


def test_sqlite_reads_in_chunks(
    churn_sqlite: Path, churn_frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_module, "CHUNK_ROWS", 1000)
    seen: list[str] = []
    result = collect(
        [sql("sqlite:///churn.db", table="churn")],
        root=churn_sqlite.parent,
        progress=lambda label, _f: seen.append(label),
    )
    assert [s for s in seen if s.startswith("db: ")] == [
        f"db: {n} rows" for n in (*range(1000, 7001, 1000), 7043)
    ]
    assert_frame_equal(result.frame, churn_frame)
    assert result.per_source == {"db": 7043}


def test_sqlite_absolute_url_and_missing_file(churn_sqlite: Path, tmp_path: Path) -> None:
    assert (
        read_source(sql(f"sqlite:///{churn_sqlite}", table="churn"), root=Path("/")).height == 7043
    )
    with pytest.raises(DataError, match=r"SQLite database file not found: sqlite:///.*nope\.db"):
        read_source(sql("sqlite:///nope.db", table="churn"), root=tmp_path)
    assert not (tmp_path / "nope.db").exists()


def test_sqlite_missing_table_lists_tables(churn_sqlite: Path) -> None:
    with pytest.raises(DataError) as info:
        read_source(sql("sqlite:///churn.db", table="churns"), root=churn_sqlite.parent)
    msg = str(info.value)
    assert "no table 'churns'" in msg
    assert "did you mean 'churn'" in msg and "tables: 'churn'" in msg


def test_table_name_is_never_pasted_into_sql(churn_sqlite: Path) -> None:
    root = churn_sqlite.parent
    with pytest.raises(DataError, match="no table"):
        read_source(sql("sqlite:///churn.db", table="churn; DROP TABLE churn"), root=root)
    assert read_source(sql("sqlite:///churn.db", table="churn"), root=root).height == 7043
    engine = sa.create_engine(f"sqlite:///{churn_sqlite}")
    pl.DataFrame({"a b": [1]}).write_database('odd "name"', engine)
    engine.dispose()
    assert read_source(sql("sqlite:///churn.db", table='odd "name"'), root=root).rows() == [(1,)]


def test_sqlite_syntax_error_has_database_message(churn_sqlite: Path) -> None:
    with pytest.raises(DataError) as info:
        read_source(sql("sqlite:///churn.db", query="SELEC * FROM churn"), root=churn_sqlite.parent)
    assert 'the database rejected the query: near "SELEC": syntax error' in str(info.value)


def test_missing_column_on_table(churn_sqlite: Path) -> None:
    with pytest.raises(DataError, match=r"has no columns 'tenur'.*did you mean 'tenure'"):
        read_source(
            sql("sqlite:///churn.db", table="churn", columns=["tenur"]), root=churn_sqlite.parent
        )


def test_query_column_names_trimmed_and_unique(churn_sqlite: Path) -> None:
    root = churn_sqlite.parent
    frame = read_source(
        sql("sqlite:///churn.db", query="SELECT tenure AS ' t ' FROM churn"), root=root
    )
    assert frame.columns == ["t"]
    with pytest.raises(DataError, match="duplicate column names"):
        read_source(sql("sqlite:///churn.db", query="SELECT tenure, tenure FROM churn"), root=root)


def test_mixed_value_types_in_a_sqlite_column(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE m (v)"))
        conn.execute(sa.text("INSERT INTO m VALUES (1), ('x'), (X'00')"))
    engine.dispose()
    with pytest.raises(DataError, match=r"column 'v' mixes value types \(bytes, int, str\)"):
        read_source(sql("sqlite:///m.db", table="m"), root=tmp_path)
    relaxed = read_source(sql("sqlite:///m.db", query="SELECT v FROM m LIMIT 2"), root=tmp_path)
    assert relaxed["v"].to_list() == ["1", "x"]


def test_not_a_url() -> None:
    with pytest.raises(DataError, match="is not a SQLAlchemy URL"):
        read_source(sql("not a url", table="t"), root=Path("."))


# ---------------------------------------------------------------- PostgreSQL


def test_connection_refused_masks_password() -> None:
    pytest.importorskip(
        "psycopg", reason="psycopg is not installed (pip install 'conveyor[postgres]')"
    )
    url = "postgresql+psycopg://reader:hunter22@127.0.0.1:1/shop"
    with pytest.raises(DataError) as info:
        read_source(sql(url, table="orders"), root=Path("."))
    msg = str(info.value)
    assert "cannot connect to postgresql+psycopg://reader:***@127.0.0.1:1/shop" in msg
    assert "Connection refused" in msg
    assert "hunter22" not in msg and "hunter22" not in repr(info.value.args)


@pytest.fixture
def pg_churn(postgres_url: str, churn_frame: pl.DataFrame) -> str:
    engine = sa.create_engine(postgres_url)
    churn_frame.write_database("churn", engine)
    engine.dispose()
    return postgres_url


def _schema_of(url: str) -> str:
    options = parse_qs(urlsplit(url).query)["options"][0]
    return options.split("search_path=")[1]


@pytest.mark.postgres
def test_postgres_table_and_query(pg_churn: str, churn_frame: pl.DataFrame) -> None:
    frame = read_source(sql(pg_churn, table="churn"), root=Path("."))
    assert_frame_equal(frame, churn_frame, check_row_order=False)
    qualified = read_source(sql(pg_churn, table=f"{_schema_of(pg_churn)}.churn"), root=Path("."))
    assert qualified.height == 7043
    query = "SELECT contract, count(*) AS n FROM churn GROUP BY contract ORDER BY contract"
    counts = read_source(sql(pg_churn, query=query), root=Path("."))
    expected = churn_frame.group_by("contract").len("n").sort("contract")
    assert counts.rows() == expected.rows()


@pytest.mark.postgres
def test_postgres_missing_table_and_syntax_error(pg_churn: str) -> None:
    with pytest.raises(DataError) as info:
        read_source(sql(pg_churn, table="custmers"), root=Path("."))
    assert "no table 'custmers'" in str(info.value) and "tables: 'churn'" in str(info.value)
    with pytest.raises(DataError) as info:
        read_source(sql(pg_churn, query="SELEC 1"), root=Path("."))
    msg = str(info.value)
    assert 'the database rejected the query: syntax error at or near "SELEC"' in msg
    assert "DECLARE" not in msg  # the server-side cursor is an implementation detail


@pytest.mark.postgres
def test_postgres_empty_query_keeps_columns(pg_churn: str) -> None:
    frame = read_source(
        sql(pg_churn, query="SELECT churn, tenure FROM churn WHERE false"), root=Path(".")
    )
    assert frame.columns == ["churn", "tenure"] and frame.height == 0
