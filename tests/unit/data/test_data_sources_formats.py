"""Parquet, JSON, JSON Lines and Excel files: good reads and every bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from conveyor.config.models import SourceConfig
from conveyor.data.sources import read_source
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


# ---------------------------------------------------------------- Parquet


def test_parquet_round_trip_and_columns(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2], " b ": ["x", None], "d": [dt.date(2024, 1, 1), None]})
    frame.write_parquet(tmp_path / "x.parquet")
    back = read(tmp_path, path="x.parquet")
    assert back.columns == ["a", "b", "d"]
    assert back.rows() == frame.rows()
    assert read(tmp_path, path="x.parquet", columns=["d"]).columns == ["d"]


def test_unreadable_parquet(tmp_path: Path) -> None:
    write(tmp_path / "x.parquet", b"this is not parquet at all")
    msg = error(tmp_path, path="x.parquet")
    assert "x.parquet: not a readable Parquet file" in msg


def test_zero_row_parquet(tmp_path: Path) -> None:
    pl.DataFrame({"a": []}, schema={"a": pl.Int64}).write_parquet(tmp_path / "x.parquet")
    assert "no data rows" in error(tmp_path, path="x.parquet")


# ---------------------------------------------------------------- JSON / JSONL


def test_json_array_of_records_with_nested_objects(tmp_path: Path) -> None:
    records = [{"a": 1, "b": {"c": 2, "d": {"e": 3}}}, {"a": 2, "late": "x"}]
    write(tmp_path / "x.json", json.dumps(records))
    frame = read(tmp_path, path="x.json")
    assert frame.columns == ["a", "b.c", "b.d.e", "late"]
    assert frame.rows() == [(1, 2, 3, None), (2, None, None, "x")]


def test_json_records_path(tmp_path: Path) -> None:
    write(tmp_path / "x.json", json.dumps({"meta": {}, "data": {"items": [{"a": 1}, {"a": 2}]}}))
    assert read(tmp_path, path="x.json", records_path="data.items")["a"].to_list() == [1, 2]


def test_json_records_path_missing_lists_keys(tmp_path: Path) -> None:
    write(tmp_path / "x.json", json.dumps({"data": {"items": [], "total": 0}}))
    msg = error(tmp_path, path="x.json", records_path="data.itemz")
    assert "records_path 'data.itemz': no key 'itemz' at data" in msg
    assert "keys found: 'items', 'total'" in msg
    assert "did you mean 'items'" in msg


def test_json_object_without_records_path_suggests_one(tmp_path: Path) -> None:
    write(tmp_path / "x.json", json.dumps({"data": {"items": [{"a": 1}]}}))
    msg = error(tmp_path, path="x.json")
    assert "expected a list of records, got an object with keys 'data'" in msg
    assert "set records_path to one of 'data.items'" in msg


def test_json_invalid_suggests_jsonl(tmp_path: Path) -> None:
    write(tmp_path / "x.json", '{"a": 1}\n{"a": 2}\n')
    msg = error(tmp_path, path="x.json")
    assert "not valid JSON at line 2, column 1" in msg
    assert "type: jsonl" in msg


def test_json_records_must_be_objects(tmp_path: Path) -> None:
    write(tmp_path / "x.json", "[1, 2]")
    assert "record 0 is a number, expected an object" in error(tmp_path, path="x.json")


def test_json_conflicting_value_types(tmp_path: Path) -> None:
    write(tmp_path / "x.json", json.dumps([{"a": 1}, {"a": {"nested": True}}]))
    msg = error(tmp_path, path="x.json")
    assert "'a' is a value in record 0 but an object in record 1" in msg
    write(tmp_path / "x.json", json.dumps([{"a": {"b": [1]}}, {"a": {"b": "x"}}]))
    assert "'a.b' is a list in record 0 but a value in record 1" in error(tmp_path, path="x.json")
    write(tmp_path / "x.json", json.dumps([{"a": 1}, {"a": "x"}, {"a": None}]))
    assert read(tmp_path, path="x.json")["a"].to_list() == ["1", "x", None]


def test_json_empty_array(tmp_path: Path) -> None:
    write(tmp_path / "x.json", "[]")
    assert "no data rows" in error(tmp_path, path="x.json")


def test_jsonl_flattens_and_reads_late_type_change(tmp_path: Path) -> None:
    lines = [json.dumps({"a": i, "b": {"c": i}}) for i in range(10_050)]
    lines.append(json.dumps({"a": "text", "b": {"c": 1}}))
    write(tmp_path / "x.jsonl", "\n".join(lines) + "\n")
    frame = read(tmp_path, path="x.jsonl", columns=["a", "b.c"])
    assert frame.columns == ["a", "b.c"]
    assert frame.height == 10_051 and frame["a"].dtype == pl.String


def test_jsonl_bad_line_is_named(tmp_path: Path) -> None:
    write(tmp_path / "x.ndjson", '{"a": 1}\n{"a": 2}\n{"a": \n')
    msg = error(tmp_path, path="x.ndjson")
    assert "x.ndjson: line 3 is not valid JSON" in msg


# ---------------------------------------------------------------- Excel


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    import xlsxwriter

    path = tmp_path / "book.xlsx"
    with xlsxwriter.Workbook(path) as wb:
        pl.DataFrame({"a": [1, 2], " b ": ["x", "y"]}).write_excel(wb, worksheet="first")
        pl.DataFrame({"q": [1.5, 2.5, 3.5]}).write_excel(wb, worksheet="second")
        dup = wb.add_worksheet("dups")
        dup.write_row(0, 0, ["a", "b", "a"])
        dup.write_row(1, 0, [1, 2, 3])
        wb.add_worksheet("blank")
        wb.add_worksheet("header_only").write_row(0, 0, ["x", "y"])
    return path


def test_excel_sheet_by_name_index_and_default(workbook: Path) -> None:
    root = workbook.parent
    first = read(root, path=workbook.name)
    assert first.columns == ["a", "b"] and first.rows() == [(1, "x"), (2, "y")]
    assert read(root, path=workbook.name, sheet="second")["q"].to_list() == [1.5, 2.5, 3.5]
    assert read(root, path=workbook.name, sheet=1)["q"].to_list() == [1.5, 2.5, 3.5]


def test_excel_missing_sheet_lists_sheets(workbook: Path) -> None:
    msg = error(workbook.parent, path=workbook.name, sheet="thrid")
    assert "book.xlsx: no sheet named 'thrid'; sheets: 'first', 'second', 'dups'" in msg
    msg = error(workbook.parent, path=workbook.name, sheet=9)
    assert "sheet index 9 is out of range; the workbook has 5 sheets" in msg


def test_excel_duplicate_header_empty_sheet_and_header_only(workbook: Path) -> None:
    root = workbook.parent
    assert "[sheet 'dups']: duplicate column names" in error(root, path=workbook.name, sheet="dups")
    assert "[sheet 'blank']: the sheet is empty" in error(root, path=workbook.name, sheet="blank")
    assert "no data rows" in error(root, path=workbook.name, sheet="header_only")


def test_excel_not_a_workbook(tmp_path: Path) -> None:
    write(tmp_path / "x.xlsx", b"garbage bytes")
    assert "x.xlsx: not a readable Excel workbook" in error(tmp_path, path="x.xlsx")


def test_json_keys_trimmed_and_flattened_collisions_named(tmp_path: Path) -> None:
    write(tmp_path / "x.json", json.dumps([{" a ": 1, "b": {" c": 2}}]))
    assert read(tmp_path, path="x.json").columns == ["a", "b.c"]
    write(tmp_path / "x.json", json.dumps([{"b": {"c": 1}, "b.c": 2}]))
    assert "duplicate column names (after trimming spaces): 'b.c'" in error(tmp_path, path="x.json")
