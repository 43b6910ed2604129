"""Feedback labels: decoded, matched to the model's classes, bad ones counted (not fatal)."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.monitor._labels import check_labels, label_key
from conveyor.stores.feedback import encode_actual


def test_classification_labels_match_the_classes_on_their_text() -> None:
    actual = pl.Series(['"Yes"', '"No"', None, '"Yes"'])
    check = check_labels(actual, task="binary", classes=["No", "Yes"])
    assert check.label.to_list() == ["Yes", "No", None, "Yes"]
    assert check.invalid == 0 and check.to_dict() == {"count": 0, "reason": "", "examples": []}


def test_integer_classes_accept_numbers_and_their_text_but_not_booleans() -> None:
    actual = pl.Series(["1", '"0"', "true", "0.5", '"2"'])
    check = check_labels(actual, task="binary", classes=["0", "1"])
    assert check.label.to_list() == ["1", "0", None, None, None]
    assert check.invalid == 3
    assert check.examples == ["true", "0.5", '"2"']
    assert "not one of the model's classes ('0', '1')" in check.reason


def test_unknown_classes_are_counted_with_examples_capped_at_five() -> None:
    actual = pl.Series([json.dumps(f"class{i}") for i in range(8)] + ['"Yes"'])
    check = check_labels(actual, task="multiclass", classes=["Yes", "No"])
    assert check.invalid == 8 and len(check.examples) == 5
    assert check.label.drop_nulls().to_list() == ["Yes"]


def test_regression_labels_must_be_numbers() -> None:
    actual = pl.Series(["1.5", "-2", '"3.0"', "true", None, "1e3"])
    check = check_labels(actual, task="regression", classes=None)
    assert check.label.to_list() == [1.5, -2.0, None, None, None, 1000.0]
    assert check.invalid == 2
    assert check.examples == ['"3.0"', "true"]
    assert "not numbers" in check.reason


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53))
def test_any_stored_number_round_trips_as_a_regression_label(value: float) -> None:
    stored = encode_actual(value, where="test")
    check = check_labels(pl.Series([stored]), task="regression", classes=None)
    assert check.invalid == 0
    assert check.label[0] == float(value)


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=20))
def test_any_text_class_round_trips(label: str) -> None:
    stored = encode_actual(label, where="test")
    check = check_labels(pl.Series([stored]), task="binary", classes=[label, label + "x"])
    assert check.label.to_list() == [label]


def test_shadow_rows_take_the_champions_feedback() -> None:
    frame = pl.DataFrame(
        {"prediction_id": ["a", "a-shadow", "b-shadow"], "status": ["ok", "shadow", "ok"]}
    )
    keys = frame.select(label_key(pl.col("prediction_id"), pl.col("status"))).to_series()
    assert keys.to_list() == ["a", "a", "b-shadow"]
