"""Cleaning operations: what each changes, what each counts, how each fails."""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.config.models import (
    ClipOutliers,
    DropColumns,
    DropDuplicates,
    DropMissing,
    FillMissing,
    NormalizeStrings,
    RepairTypes,
)
from conveyor.data._clean import clean
from conveyor.errors import DataError


def _one(frame: pl.DataFrame, op, protected=()):
    result = clean(frame, [op], protected=protected)
    (report,) = result.reports
    return result.frame, report


# ---------------------------------------------------------------- drop_duplicates


def test_drop_duplicates_whole_rows_and_subset_keep_first_or_last() -> None:
    frame = pl.DataFrame({"k": [1, 1, 2, 1], "v": ["a", "a", "b", "c"]})
    out, report = _one(frame, DropDuplicates(op="drop_duplicates"))
    assert out.rows() == [(1, "a"), (2, "b"), (1, "c")] and report.rows_removed == 1
    assert report.message == "drop_duplicates: removed 1 duplicate rows (whole rows, keep first)"
    out, report = _one(frame, DropDuplicates(op="drop_duplicates", subset=["k"], keep="last"))
    assert out.rows() == [(2, "b"), (1, "c")] and report.rows_removed == 2


def test_unknown_column_error_names_op_position_and_columns() -> None:
    frame = pl.DataFrame({"age": [1], "plan": ["a"]})
    ops = [
        DropDuplicates(op="drop_duplicates"),
        NormalizeStrings(op="normalize_strings"),
        FillMissing(op="fill_missing", columns=["x"]),
    ]
    with pytest.raises(DataError) as err:
        clean(frame, ops)
    assert (
        err.value.message == "clean[2] fill_missing: column 'x' not found; columns are: age, plan"
    )
    with pytest.raises(
        DataError, match=r"clean\[0\] drop_duplicates: column 'agee' not found"
    ) as err:
        clean(frame, [DropDuplicates(op="drop_duplicates", subset=["agee"])])
    assert err.value.hint == "did you mean 'age'?"


# ---------------------------------------------------------------- missing values


def test_drop_missing_rows_any_column_or_listed_columns() -> None:
    frame = pl.DataFrame({"a": [1.0, None, 3.0, float("nan")], "b": ["x", "y", None, "z"]})
    out, report = _one(frame, DropMissing(op="drop_missing"))
    assert out.rows() == [(1.0, "x")] and report.rows_removed == 3  # NaN counts as missing
    assert report.details["missing_by_column"] == {"a": 2, "b": 1}
    out, report = _one(frame, DropMissing(op="drop_missing", columns=["b"]))
    assert out.height == 3 and report.message == "drop_missing: removed 1 rows missing b"


def test_drop_missing_column_threshold_spares_protected_columns() -> None:
    frame = pl.DataFrame(
        {"mostly": [None, None, None, 1], "ok": [1, 2, 3, 4], "y": [None, None, None, 0]}
    )
    out, report = _one(frame, DropMissing(op="drop_missing", column_threshold=0.5), protected=["y"])
    assert (
        out.columns == ["ok", "y"] and out.height == 4
    )  # only columns, no rows, when only a threshold is set
    assert report.columns_removed == ["mostly"] and report.details["kept_above_threshold"] == ["y"]
    assert report.details["columns_dropped"] == {"mostly": 0.75}


def test_fill_missing_median_numeric_and_mode_for_text() -> None:
    frame = pl.DataFrame(
        {
            "n": [1, None, 4, 10],
            "f": [1.0, float("nan"), 2.0, None],
            "s": ["b", None, "a", "b"],
            "y": [None, 1, 0, 1],
        }
    )
    out, report = _one(frame, FillMissing(op="fill_missing"), protected=["y"])
    assert out["n"].to_list() == [1, 4, 4, 10] and out.schema["n"] == pl.Int64
    assert out["f"].to_list() == [1.0, 1.5, 2.0, 1.5]
    assert out["s"].to_list() == ["b", "b", "a", "b"]
    assert out["y"].to_list() == [None, 1, 0, 1]  # protected: never filled
    assert (report.cells_changed, report.rows_changed) == (4, 2)
    assert report.details["columns"]["s"] == {"strategy": "mode", "value": "b", "cells": 1}
    assert report.message.startswith("fill_missing: filled 4 cells in 3 columns (n median=4")


def test_fill_missing_mean_constant_and_ties() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, None], "s": ["b", "a", None]})
    out, _ = _one(frame, FillMissing(op="fill_missing", strategy="mean", columns=["x"]))
    assert out["x"].to_list() == [1.0, 2.0, 1.5]
    out, _ = _one(frame, FillMissing(op="fill_missing", strategy="mode", columns=["s"]))
    assert (
        out["s"][2] == "a"
    )  # a tie goes to the smallest value, so the result does not depend on order
    out, report = _one(
        frame, FillMissing(op="fill_missing", strategy="constant", value=0, columns=["x"])
    )
    assert out["x"].to_list() == [1.0, 2.0, 0.0] and report.cells_changed == 1


def test_fill_missing_says_when_a_column_has_nothing_to_fill_from() -> None:
    frame = pl.DataFrame(
        {"x": [None, None], "n": [1.0, None]}, schema={"x": pl.String, "n": pl.Float64}
    )
    out, report = _one(frame, FillMissing(op="fill_missing"))
    assert out["x"].to_list() == [None, None] and out["n"].to_list() == [1.0, 1.0]
    assert (
        report.message
        == "fill_missing: filled 1 cells in 1 columns (n median=1.0); no values to fill from in x"
    )


def test_fill_missing_refuses_bad_constant_and_protected_columns() -> None:
    frame = pl.DataFrame({"x": [1.0, None], "y": [None, 1]})
    with pytest.raises(
        DataError, match=r"clean\[0\] fill_missing: value 'abc' does not fit column 'x' \(float\)"
    ):
        clean(
            frame, [FillMissing(op="fill_missing", strategy="constant", value="abc", columns=["x"])]
        )
    with pytest.raises(
        DataError, match="column 'y' is the target or the id column and is never filled"
    ):
        clean(frame, [FillMissing(op="fill_missing", columns=["y"])], protected=["y"])


# ---------------------------------------------------------------- repair_types


def test_repair_numbers_stored_as_text() -> None:
    frame = pl.DataFrame(
        {"v": ["1,234.5", " 12 ", "$1,200", "12%", "", "  ", "(5)", "-3.5e2", "NA"]}
    )
    out, report = _one(frame, RepairTypes(op="repair_types"))
    assert out["v"].to_list()[:4] == [1234.5, 12.0, 1200.0, 0.12]
    assert out["v"].to_list()[4:] == [None, None, -5.0, -350.0, None]
    details = report.details["columns"]["v"]
    assert details == {"from": "str", "to": "float", "cells": 6, "failed": 0, "blank_to_null": 3}
    assert report.message == "repair_types: v str -> float (6 cells), 0 failed"
    assert (report.cells_changed, report.rows_changed) == (9, 9)


def test_detection_needs_min_share_and_counts_failures() -> None:
    values = [str(i) for i in range(19)] + ["oops"]  # 95% parse
    out, report = _one(pl.DataFrame({"v": values}), RepairTypes(op="repair_types"))
    assert out.schema["v"] == pl.Int64 and out["v"][19] is None
    assert report.details["columns"]["v"]["failed"] == 1
    assert report.details["columns"]["v"]["failed_examples"] == ["oops"]
    assert report.message == "repair_types: v str -> int (19 cells), 1 failed"
    out, report = _one(pl.DataFrame({"v": values}), RepairTypes(op="repair_types", min_share=0.99))
    assert out.schema["v"] == pl.String and report.message == "repair_types: no columns converted"
    assert report.details["kept_as_text"] == {
        "v": {"best": "number", "share": 0.95, "min_share": 0.99}
    }


def test_detection_of_bools_dates_and_codes() -> None:
    frame = pl.DataFrame(
        {
            "flag": ["Yes", "no", "Y", "N", None],
            "bits": ["0", "1", "1", "0", None],
            "zip": ["02134", "10001", "94105", "00501", None],
            "day": ["31/12/2023", "01/02/2024", "15/03/2024", "", None],
            "at": ["2024-01-02 03:04:05", "2024-01-02T10:00", "2024-02-03 00:00:00.5", None, None],
            "word": ["a", "b", "c", "d", None],
        }
    )
    out, report = _one(frame, RepairTypes(op="repair_types"))
    assert out["flag"].to_list() == [True, False, True, False, None]
    assert out.schema["bits"] == pl.Int64  # 0/1 alone read as numbers
    assert out.schema["zip"] == pl.String  # leading zeros mark codes
    assert out["day"].to_list()[:3] == [
        dt.date(2023, 12, 31),
        dt.date(2024, 2, 1),
        dt.date(2024, 3, 15),
    ]
    assert report.details["columns"]["day"]["formats"] == ["%d/%m/%Y"]
    assert out.schema["at"] == pl.Datetime("us") and out["at"][2] == dt.datetime(
        2024, 2, 3, 0, 0, 0, 500000
    )
    assert out.schema["word"] == pl.String


def test_detection_leaves_protected_columns_alone() -> None:
    frame = pl.DataFrame({"churn": ["Yes", "No"], "x": ["yes", "no"]})
    out, _ = _one(frame, RepairTypes(op="repair_types"), protected=["churn"])
    assert out.schema["churn"] == pl.String and out.schema["x"] == pl.Boolean


def test_explicit_mode_reports_every_failure() -> None:
    frame = pl.DataFrame(
        {
            "n": ["1", "x", "3", ""],
            "f": [1.0, 2.5, 3.0, None],
            "d": ["2024-01-05", "05.01.2024", "bad", None],
        }
    )
    op = RepairTypes(op="repair_types", columns={"n": "int", "f": "int", "d": "date"})
    out, report = _one(frame, op)
    assert out["n"].to_list() == [1, None, 3, None]
    assert out["f"].to_list() == [1, None, 3, None]
    assert out["d"].to_list() == [dt.date(2024, 1, 5), dt.date(2024, 1, 5), None, None]
    cols = report.details["columns"]
    assert (cols["n"]["failed"], cols["n"]["failed_examples"], cols["n"]["blank_to_null"]) == (
        1,
        ["x"],
        1,
    )
    assert (cols["f"]["failed"], cols["f"]["failed_examples"]) == (1, [2.5])
    assert (cols["d"]["failed"], cols["d"]["failed_examples"]) == (1, ["bad"])
    assert "n str -> int (2 cells), 1 failed; f float -> int (2 cells), 1 failed" in report.message


def test_explicit_mode_bools_strings_and_impossible_conversions() -> None:
    frame = pl.DataFrame(
        {"b": ["t", "F", "1", "maybe"], "code": [1, 2, 3, 4], "day": [dt.date(2024, 1, 1)] * 4}
    )
    out, report = _one(
        frame,
        RepairTypes(op="repair_types", columns={"b": "bool", "code": "str", "day": "datetime"}),
    )
    assert (
        out["b"].to_list() == [True, False, True, None]
        and report.details["columns"]["b"]["failed"] == 1
    )
    assert out["code"].to_list() == ["1", "2", "3", "4"]
    assert out.schema["day"] == pl.Datetime("us")
    with pytest.raises(
        DataError, match=r"clean\[0\] repair_types: cannot convert column 'day' from date to float"
    ):
        clean(frame, [RepairTypes(op="repair_types", columns={"day": "float"})])
    with pytest.raises(DataError, match="column 'nope' not found"):
        clean(frame, [RepairTypes(op="repair_types", columns={"nope": "int"})])


_styles = st.sampled_from(["plain", "grouped", "dollar", "spaced", "percent", "paren"])


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).map(lambda x: round(x, 2)),
    style=_styles,
)
def test_formatted_numbers_round_trip(value: float, style: str) -> None:
    if style == "plain":
        text, expected = repr(value), value
    elif style == "grouped":
        text, expected = f"{value:,.2f}", value
    elif style == "dollar":
        text, expected = f"${value:,.2f}" if value >= 0 else f"-${-value:,.2f}", value
    elif style == "spaced":
        text, expected = f"  {value:.2f}\t", value
    elif style == "percent":
        text, expected = f"{value:.2f}%", value / 100
    else:
        text, expected = f"({abs(value):,.2f})", -abs(value)
    for op in (
        RepairTypes(op="repair_types"),
        RepairTypes(op="repair_types", columns={"v": "float"}),
    ):
        out, report = _one(pl.DataFrame({"v": [text]}), op)
        got = float(out["v"][0])
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12), (text, got, expected)
        assert report.details["columns"]["v"]["failed"] == 0


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_grouped_integers_round_trip_exactly(value: int) -> None:
    out, _ = _one(pl.DataFrame({"v": [f"{value:,}", "0"]}), RepairTypes(op="repair_types"))
    assert out.schema["v"] == pl.Int64 and out["v"][0] == value


@pytest.mark.parametrize("text", ["1,2", "1.2.3", "12 34", "(-5)", "$", "1e", "--1"])
def test_malformed_numbers_fail_rather_than_guess(text: str) -> None:
    out, report = _one(
        pl.DataFrame({"v": [text]}), RepairTypes(op="repair_types", columns={"v": "float"})
    )
    assert out["v"][0] is None and report.details["columns"]["v"]["failed"] == 1


# ---------------------------------------------------------------- strings, outliers, columns


def test_normalize_strings_trim_case_and_empty() -> None:
    frame = pl.DataFrame(
        {"s": [" A ", "b", "  ", None], "t": ["X", "y", "", "z"], "n": [1, 2, 3, 4]}
    )
    out, report = _one(frame, NormalizeStrings(op="normalize_strings", case="lower"))
    assert out["s"].to_list() == ["a", "b", None, None]
    assert out["t"].to_list() == ["x", "y", None, "z"]
    assert (report.cells_changed, report.rows_changed) == (4, 2)
    assert (
        report.message
        == "normalize_strings: changed 4 cells in 2 columns (trim, lower, empty -> null)"
    )
    with pytest.raises(
        DataError, match="column 'n' is int; normalize_strings works on text columns"
    ):
        clean(frame, [NormalizeStrings(op="normalize_strings", columns=["n"])])


def test_clip_outliers_by_quantiles() -> None:
    frame = pl.DataFrame(
        {
            "x": [float(i) for i in range(101)],
            "k": [*range(100), 10_000],
            "s": ["a"] * 101,
            "y": [1e9] + [0.0] * 100,
        }
    )
    out, report = _one(
        frame, ClipOutliers(op="clip_outliers", lower=0.05, upper=0.95), protected=["y"]
    )
    assert (out["x"].min(), out["x"].max()) == (5.0, 95.0)
    assert out.schema["k"] == pl.Int64 and out["k"].max() == 95
    assert out["y"].max() == 1e9  # protected
    cols = report.details["columns"]
    assert set(cols) == {"x", "k"} and cols["x"] == {"lower": 5.0, "upper": 95.0, "cells": 10}
    assert report.cells_changed == cols["x"]["cells"] + cols["k"]["cells"]
    with pytest.raises(
        DataError, match="column 's' is str; clip_outliers works on numeric columns"
    ):
        clean(frame, [ClipOutliers(op="clip_outliers", columns=["s"])])
    with pytest.raises(DataError, match="never clipped"):
        clean(frame, [ClipOutliers(op="clip_outliers", columns=["y"])], protected=["y"])


def test_drop_columns() -> None:
    frame = pl.DataFrame({"a": [1], "b": [2], "y": [3]})
    out, report = _one(frame, DropColumns(op="drop_columns", columns=["a"]))
    assert out.columns == ["b", "y"] and report.columns_removed == ["a"]
    with pytest.raises(DataError) as err:
        clean(frame, [DropColumns(op="drop_columns", columns=["c"])])
    assert err.value.message == "clean[0] drop_columns: column 'c' not found; columns are: a, b, y"
    with pytest.raises(
        DataError, match="column 'y' is the target or the id column and is never dropped"
    ):
        clean(frame, [DropColumns(op="drop_columns", columns=["y"])], protected=["y"])


def test_ops_run_in_order_and_see_earlier_changes() -> None:
    frame = pl.DataFrame({"a": ["1", "2"], "b": [1, 2]})
    ops = [
        DropColumns(op="drop_columns", columns=["b"]),
        FillMissing(op="fill_missing", columns=["b"]),
    ]
    with pytest.raises(
        DataError, match=r"clean\[1\] fill_missing: column 'b' not found; columns are: a"
    ) as err:
        clean(frame, ops)
    assert err.value.hint == "an earlier op may have dropped it"


def test_churn_clean(churn_csv) -> None:
    raw = pl.read_csv(
        churn_csv, infer_schema=False
    )  # everything as text, as a messy source would give it
    ops = [
        RepairTypes(op="repair_types"),
        DropMissing(op="drop_missing", columns=["total_charges"]),
        NormalizeStrings(op="normalize_strings"),
    ]
    result = clean(raw, ops, protected=["churn"])
    repair, drop, _ = result.reports
    assert "total_charges str -> float (7032 cells), 0 failed" in repair.message
    assert (
        repair.details["columns"]["total_charges"]["blank_to_null"] == 0
    )  # the CSV reader made blanks null
    assert result.frame.schema["tenure"] == pl.Int64 and result.frame.schema["churn"] == pl.String
    assert drop.rows_removed == 11 and result.frame.height == 7032
    json.dumps(result.to_dict())
