"""CSV/TSV files, globs, source_files and read_table_file: good reads and every bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from conveyor.config.models import SourceConfig
from conveyor.data.sources import read_source, read_table_file, source_files
from conveyor.errors import DataError


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def read(root: Path, **options: object) -> pl.DataFrame:
    return read_source(SourceConfig(**options), root=root)  # type: ignore[arg-type]


def error(root: Path, **options: object) -> str:
    with pytest.raises(DataError) as info:
        read(root, **options)
    return str(info.value)


# ---------------------------------------------------------------- CSV / TSV


def test_churn_csv_reads_with_types_and_missing_values(churn_csv: Path) -> None:
    frame = read(churn_csv.parent, path=churn_csv.name)
    assert frame.shape == (7043, 20)
    assert frame["total_charges"].dtype == pl.Float64
    assert frame["total_charges"].null_count() == 11
    assert frame["tenure"].dtype == pl.Int64
    assert frame["churn"].value_counts().sort("churn").rows() == [("No", 5174), ("Yes", 1869)]


def test_churn_columns_are_pushed_down(churn_csv: Path, tmp_path: Path) -> None:
    frame = read(tmp_path, path=str(churn_csv), columns=["tenure", "churn"])
    assert frame.columns == ["tenure", "churn"]
    assert frame.height == 7043


def test_missing_column_is_named_with_suggestion(churn_csv: Path) -> None:
    msg = error(churn_csv.parent, path=churn_csv.name, columns=["tenure", "tenur_x", "contrct"])
    assert "'tenur_x', 'contrct' not found" in msg
    assert "did you mean 'tenure'" in msg and "'contract'" in msg


def test_delimiter_skip_rows_and_null_values(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "exported by tool\nsecond preamble\na;b;c\n1;NA;x\n2;3.5;?\n")
    frame = read(tmp_path, path="x.csv", delimiter=";", skip_rows=2, null_values=["NA", "?"])
    assert frame.columns == ["a", "b", "c"]
    assert frame.rows() == [(1, None, "x"), (2, 3.5, None)]


def test_empty_string_is_kept_when_not_a_null_value(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "a,b\nNA,\n1,x\n")
    assert read(tmp_path, path="x.csv", null_values=["NA"]).rows() == [(None, ""), (1, "x")]
    assert read(tmp_path, path="x.csv").rows() == [("NA", None), ("1", "x")]


def test_tsv_by_extension_and_no_header(tmp_path: Path) -> None:
    write(tmp_path / "x.tsv", "a\tb\n1\t2\n")
    assert read(tmp_path, path="x.tsv").rows() == [(1, 2)]
    frame = read(tmp_path, path="x.tsv", has_header=False)
    assert frame.height == 2 and frame.width == 2
    assert frame.row(0) == ("a", "b")


def test_headers_are_trimmed(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", " a , b\t,c\n1,2,3\n")
    assert read(tmp_path, path="x.csv").columns == ["a", "b", "c"]


@pytest.mark.parametrize("header", ["a,b,a", "a, a ,b"])
def test_duplicate_headers_are_named(tmp_path: Path, header: str) -> None:
    write(tmp_path / "x.csv", f"{header}\n1,2,3\n")
    msg = error(tmp_path, path="x.csv")
    assert "x.csv: duplicate column names" in msg
    assert "'a' at columns" in msg


def test_ragged_row_names_the_line(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", 'a,b\n1,2\n3,"q,uoted"\n4,5,6\n7,8\n')
    msg = error(tmp_path, path="x.csv")
    assert "x.csv: line 4 has 3 fields, but the header has 2" in msg
    assert "delimiter" in msg


def test_ragged_row_line_counts_skipped_rows(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "preamble\na,b\n1,2\n3,4,5\n")
    assert "line 4 has 3 fields" in error(tmp_path, path="x.csv", skip_rows=1)


def test_short_rows_are_padded_with_nulls(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "a,b,c\n1,2\n3,4,5\n")
    assert read(tmp_path, path="x.csv").rows() == [(1, 2, None), (3, 4, 5)]


def test_wrong_encoding_names_the_byte_and_suggests_latin1(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "name,city\nx,Zürich\n".encode("latin-1"))
    msg = error(tmp_path, path="x.csv")
    assert "x.csv: not valid utf8 at byte 13 (line 2): b'\\xfc'" in msg
    assert "encoding: latin-1" in msg


def test_latin1_and_lossy_encodings_read(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "name,city\nx,Zürich\ny,Köln\n".encode("latin-1"))
    assert read(tmp_path, path="x.csv", encoding="latin-1")["city"].to_list() == ["Zürich", "Köln"]
    lossy = read(tmp_path, path="x.csv", encoding="utf8-lossy")["city"].to_list()
    assert lossy == ["Z\ufffdrich", "K\ufffdln"]


def test_strict_legacy_codec_failure_names_the_byte(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", b"a\n\xe9\n")
    assert "not valid ascii at byte 2 (line 2)" in error(tmp_path, path="x.csv", encoding="ascii")


def test_unknown_encoding(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "a\n1\n")
    assert "unknown encoding 'klingon'" in error(tmp_path, path="x.csv", encoding="klingon")


def test_late_type_change_rereads_the_whole_column(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "a\n" + "1\n" * 10_050 + "n/a\n")
    frame = read(tmp_path, path="x.csv")
    assert frame.height == 10_051
    assert frame["a"].dtype == pl.String and frame["a"][-1] == "n/a"


def test_empty_file(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "")
    msg = error(tmp_path, path="x.csv")
    assert "x.csv: the file is empty (0 bytes)" in msg


def test_header_only(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "a,b\n")
    assert "x.csv: no data rows (columns: 'a', 'b')" in error(tmp_path, path="x.csv")


def test_blank_lines_only(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "\n\n")
    assert "x.csv" in error(tmp_path, path="x.csv")


def test_missing_file_lists_near_matches(tmp_path: Path) -> None:
    write(tmp_path / "data" / "customers.csv", "a\n1\n")
    write(tmp_path / "data" / "orders.csv", "a\n1\n")
    msg = error(tmp_path, path="data/customer.csv")
    assert "file not found: data/customer.csv" in msg
    assert "near matches in data/: 'customers.csv'" in msg
    assert "relative to the folder of conveyor.yaml" in msg


def test_missing_file_without_near_match_lists_folder(tmp_path: Path) -> None:
    write(tmp_path / "data" / "orders.csv", "a\n1\n")
    assert "data/ holds: 'orders.csv'" in error(tmp_path, path="data/zzz.csv")


def test_missing_folder(tmp_path: Path) -> None:
    assert "folder nowhere/ does not exist" in error(tmp_path, path="nowhere/x.csv")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()
    msg = error(tmp_path, path="data.csv")
    assert "is a folder" in msg and "glob" in msg


def test_gzipped_csv(tmp_path: Path) -> None:
    import gzip

    with gzip.open(tmp_path / "x.csv.gz", "wt") as fh:
        fh.write("a,b\n1,2\n")
    assert read(tmp_path, path="x.csv.gz").rows() == [(1, 2)]


# ---------------------------------------------------------------- globs


def test_glob_concatenates_sorted_files_with_file_column(tmp_path: Path) -> None:
    write(tmp_path / "data" / "2024-02.csv", "id,amount\n3,1.5\n")
    write(tmp_path / "data" / "2024-01.csv", "id,amount,extra\n1,2,a\n2,3,b\n")
    write(tmp_path / "data" / "2023-12.csv", "id,amount\n0,0\n")
    frame = read(tmp_path, path="data/2024-*.csv", add_file_column="file")
    assert frame.columns == ["id", "amount", "extra", "file"]
    assert frame["amount"].dtype == pl.Float64  # int in one file, float in the other
    assert frame.rows() == [
        (1, 2.0, "a", "data/2024-01.csv"),
        (2, 3.0, "b", "data/2024-01.csv"),
        (3, 1.5, None, "data/2024-02.csv"),
    ]


def test_glob_columns_may_be_missing_from_some_files(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "id,extra\n1,x\n")
    write(tmp_path / "b.csv", "id\n2\n")
    frame = read(tmp_path, path="*.csv", columns=["extra", "id"])
    assert frame.rows() == [("x", 1), (None, 2)]
    assert "not found" in error(tmp_path, path="*.csv", columns=["nope"])


def test_glob_text_absorbs_numbers(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "v\n1\n")
    write(tmp_path / "b.csv", "v\nn/a\n")
    assert read(tmp_path, path="*.csv")["v"].to_list() == ["1", "n/a"]


def test_glob_type_conflict_names_column_and_files(tmp_path: Path) -> None:
    pl.DataFrame({"v": [dt.date(2024, 1, 1)]}).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame({"v": [5]}).write_parquet(tmp_path / "b.parquet")
    msg = error(tmp_path, path="*.parquet")
    assert "column 'v' has conflicting types (a.parquet: Date, b.parquet: Int64)" in msg


def test_glob_matching_nothing(tmp_path: Path) -> None:
    write(tmp_path / "data" / "2023-01.csv", "a\n1\n")
    msg = error(tmp_path, path="data/2024-*.csv")
    assert "the glob 'data/2024-*.csv' matches no files" in msg
    assert "2023-01.csv" in msg


def test_glob_with_empty_file_names_it(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "a\n1\n")
    write(tmp_path / "b.csv", "")
    assert "b.csv: the file is empty (0 bytes)" in error(tmp_path, path="*.csv")


def test_glob_of_header_only_files(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "a\n")
    write(tmp_path / "b.csv", "a\n")
    assert "none of the 2 files matching '*.csv' has data rows" in error(tmp_path, path="*.csv")
    write(tmp_path / "c.csv", "a\n1\n")
    assert read(tmp_path, path="*.csv").height == 1


def test_add_file_column_clash(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "file\n1\n")
    assert "add_file_column 'file' is already a column" in error(
        tmp_path, path="*.csv", add_file_column="file"
    )


def test_source_files_sorted_and_recursive(tmp_path: Path) -> None:
    write(tmp_path / "d" / "b.csv", "a\n1\n")
    write(tmp_path / "d" / "a.csv", "a\n1\n")
    write(tmp_path / "d" / "sub" / "c.csv", "a\n1\n")
    write(tmp_path / "d" / "note.txt", "x")
    src = SourceConfig(path="d/**/*.csv")
    assert [p.relative_to(tmp_path).as_posix() for p in source_files(src, root=tmp_path)] == [
        "d/a.csv",
        "d/b.csv",
        "d/sub/c.csv",
    ]
    assert source_files(SourceConfig(path="d/a.csv"), root=tmp_path) == [tmp_path / "d" / "a.csv"]
    with pytest.raises(DataError, match="not a file source"):
        source_files(SourceConfig(type="sql", url="sqlite://", table="t"), root=tmp_path)


# ---------------------------------------------------------------- read_table_file


def test_read_table_file_by_extension_and_kind(tmp_path: Path) -> None:
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "x.parquet")
    write(tmp_path / "x.data", "a\n1\n")
    assert read_table_file(tmp_path / "x.parquet").rows() == [(1,)]
    assert read_table_file(tmp_path / "x.data", kind="csv").rows() == [(1,)]


def test_read_table_file_errors(tmp_path: Path) -> None:
    write(tmp_path / "x.data", "a\n1\n")
    with pytest.raises(DataError, match="cannot tell the file format from its extension"):
        read_table_file(tmp_path / "x.data")
    with pytest.raises(DataError, match="kind 'xml' is not one of"):
        read_table_file(tmp_path / "x.data", kind="xml")
    with pytest.raises(DataError, match="file not found"):
        read_table_file(tmp_path / "missing.csv")
