"""collect(): combining sources, row counts per source, and its errors."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from conveyor.config.models import DataConfig, SourceConfig
from conveyor.data.sources import CollectResult, collect
from conveyor.errors import ConfigError, DataError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "a.csv").write_text("id,x\n1,0.5\n2,1.5\n")
    pl.DataFrame({"id": [3], "x": [2], "extra": ["e"]}).write_parquet(tmp_path / "b.parquet")
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        conn.execute("CREATE TABLE t (id INTEGER, x REAL)")
        conn.execute("INSERT INTO t VALUES (9, 9.5)")
    return tmp_path


def sources(*specs: dict[str, object]) -> list[SourceConfig]:
    return DataConfig.model_validate({"sources": list(specs)}).sources


def test_concat_stacks_sources_and_counts_rows(root: Path) -> None:
    result = collect(
        sources({"name": "a", "path": "a.csv"}, {"name": "b", "path": "b.parquet"}), root=root
    )
    assert isinstance(result, CollectResult)
    assert result.per_source == {"a": 2, "b": 1}
    assert result.frame.columns == ["id", "x", "extra"]
    assert result.frame.rows() == [(1, 0.5, None), (2, 1.5, None), (3, 2.0, "e")]


def test_first_uses_first_non_empty_and_reads_no_further(root: Path) -> None:
    srcs = sources(
        {"name": "empty", "url": "sqlite:///db.sqlite", "query": "SELECT * FROM t WHERE 0"},
        {"name": "a", "path": "a.csv"},
        {"name": "never", "path": "missing.csv"},  # would fail if read
    )
    result = collect(srcs, root=root, combine="first")
    assert result.per_source == {"empty": 0, "a": 2}
    assert result.frame.height == 2
    assert any("not read: 'never'" in note for note in result.notes)


def test_concat_keeps_empty_sql_source_columns(root: Path) -> None:
    srcs = sources(
        {"name": "empty", "url": "sqlite:///db.sqlite", "query": "SELECT * FROM t WHERE 0"},
        {"name": "a", "path": "a.csv"},
    )
    result = collect(srcs, root=root)
    assert result.per_source == {"empty": 0, "a": 2}
    assert result.frame.rows() == [(1, 0.5), (2, 1.5)]


def test_sources_without_common_columns(root: Path) -> None:
    (root / "other.csv").write_text("name\nq\n")
    with pytest.raises(DataError) as info:
        collect(
            sources({"name": "a", "path": "a.csv"}, {"name": "o", "path": "other.csv"}), root=root
        )
    msg = str(info.value)
    assert "they share no column (a: 'id', 'x'; o: 'name')" in msg
    assert "combine: first" in msg


def test_type_conflict_across_sources_names_them(root: Path) -> None:
    pl.DataFrame({"id": [1], "x": [dt.date(2024, 1, 1)]}).write_parquet(root / "d.parquet")
    with pytest.raises(
        DataError, match=r"column 'x' has conflicting types \(a: Float64, d: Date\)"
    ):
        collect(
            sources({"name": "a", "path": "a.csv"}, {"name": "d", "path": "d.parquet"}), root=root
        )


def test_no_rows_anywhere(root: Path) -> None:
    srcs = sources({"name": "e", "url": "sqlite:///db.sqlite", "query": "SELECT * FROM t WHERE 0"})
    with pytest.raises(DataError, match=r"no source returned any rows \(e: 0\)"):
        collect(srcs, root=root)
    with pytest.raises(DataError, match="no source returned any rows"):
        collect(srcs, root=root, combine="first")


def test_source_error_propagates_with_its_name(root: Path) -> None:
    with pytest.raises(DataError, match=r"source 'm': file not found: missing\.csv"):
        collect(sources({"name": "m", "path": "missing.csv"}), root=root)


def test_progress_reports_fractions_and_finishes(root: Path) -> None:
    seen: list[tuple[str, float | None]] = []
    collect(
        sources({"name": "a", "path": "a.csv"}, {"name": "b", "path": "b.parquet"}),
        root=root,
        progress=lambda label, frac: seen.append((label, frac)),
    )
    fractions = [f for _, f in seen if f is not None]
    assert fractions[-1] == 1.0
    assert fractions == sorted(fractions)  # never jumps back
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert 0.5 in fractions  # the first of two sources finished half-way
    assert any("'b'" in label for label, _ in seen)


def test_bad_combine_and_no_sources(root: Path) -> None:
    with pytest.raises(ConfigError, match="'zip' is not one of concat, first"):
        collect(sources({"path": "a.csv"}), root=root, combine="zip")
    with pytest.raises(ConfigError, match="at least one source"):
        collect([], root=root)
