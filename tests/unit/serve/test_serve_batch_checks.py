"""Vectorised chunk validation, the model frame and the prediction columns of batch scoring.

The reference for every check is the signature's record validator (what
serving uses): the vectorised path must accept, reject, type and word
problems the same way, only faster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.bundle import InputField, OutputField, Signature
from conveyor.pipeline.scoring import prediction_columns
from conveyor.serve._batch_checks import check_chunk
from conveyor.serve._batch_chunk import model_frame, process_chunk

NAIVE = InputField(name="when", type="datetime", kind="datetime", dtype="datetime64[us]")
AWARE = InputField(
    name="at", type="datetime", kind="datetime", nullable=True, dtype="datetime64[us, UTC]"
)


def _sig(*inputs: InputField, task: str = "regression", classes: list | None = None) -> Signature:
    binary = task == "binary"
    return Signature(
        task=task,
        target="y",
        inputs=list(inputs),
        outputs=[OutputField(name="value", type="number")],
        classes=classes,
        positive_class=classes[1] if binary and classes else None,
        threshold=0.3 if binary else None,
    )


DATES = _sig(NAIVE, AWARE)


def _reference(chunk: pl.DataFrame, sig: Signature) -> tuple[dict[str, list], dict[int, str]]:
    """The record validator's values and reasons for the same rows."""
    columns, errors = sig.validator().columns(chunk.to_dicts())
    reasons: dict[int, str] = {}
    for err in errors:
        text = err.message.split(": ", 1)[-1]
        reasons[err.index] = text if err.index not in reasons else f"{reasons[err.index]}; {text}"
    return columns, reasons


def test_datetime_text_in_every_spelling_types_like_the_record_validator() -> None:
    values = [
        "2001-03-04 10:20:00",
        "2001-03-04T10:20:00.5",
        "2001-03-04",
        "2001-03-04T12:20:00+02:00",  # an offset: through the record validator
        "2001-03-04T10:20:00Z",
        "20010304T102000",  # ISO basic format
        "not a date",
        "2001-02-30 00:00:00",
        None,
        " 2001-03-04",
        "2001-03-04 23:59:60",  # a leap second: Polars would roll it over, Python refuses
        "0000-01-01",
    ]
    chunk = pl.DataFrame({"when": values, "at": values})
    typed, reasons = check_chunk(chunk, DATES, DATES.validator())
    want_values, want_reasons = _reference(chunk, DATES)
    assert typed["when"].to_list() == want_values["when"]
    assert typed["at"].to_list() == want_values["at"]
    assert typed.schema == {"when": pl.Datetime("us"), "at": pl.Datetime("us", "UTC")}
    assert reasons == want_reasons
    assert typed["when"][3] == datetime(2001, 3, 4, 10, 20)  # +02:00 converted to UTC
    assert reasons[6] == (
        "field 'when': expected an ISO 8601 datetime, got 'not a date'; "
        "field 'at': expected an ISO 8601 datetime, got 'not a date'"
    )
    assert reasons[8] == "field 'when' is null but is required (datetime)"  # 'at' is nullable
    assert set(reasons) == {6, 7, 8, 9, 10, 11}


def test_typed_datetimes_dates_and_zones_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    chunk = pl.DataFrame(
        {
            "when": pl.Series([datetime(2001, 1, 1, 12, tzinfo=paris)]).dt.convert_time_zone(
                "Europe/Paris"
            ),
            "at": pl.Series([date(2001, 1, 2)]),
        }
    )
    typed, reasons = check_chunk(chunk, DATES, DATES.validator())
    assert reasons == {}
    assert typed["when"].to_list() == [datetime(2001, 1, 1, 11)]
    assert typed["at"].to_list() == [datetime(2001, 1, 2, tzinfo=UTC)]


def test_a_datetime_field_holding_numbers_is_rejected_per_value() -> None:
    chunk = pl.DataFrame({"when": [5, None], "at": [None, None]})
    _, reasons = check_chunk(chunk, DATES, DATES.validator())
    assert reasons == {
        0: "field 'when': expected an ISO 8601 datetime string, got integer 5",
        1: "field 'when' is null but is required (datetime)",
    }


_PART = st.integers(min_value=0, max_value=99).map(lambda v: f"{v:02d}")
_ISO_LIKE = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, tail: (
        f"{y:04d}-{mo}-{d}" + (f"{sep}{h}:{mi}:{s}{frac}{tail}" if sep else "")
    ),
    st.integers(min_value=0, max_value=9999),
    _PART,
    _PART,
    st.sampled_from(["", " ", "T", "t", "_"]),
    _PART,
    _PART,
    _PART,
    st.sampled_from(["", ".5", ".123456", ".1234567", "."]),
    st.sampled_from(["", "", "Z", "+02:00", "-0130", " "]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_ISO_LIKE, st.text(max_size=12), st.none()), min_size=1, max_size=20))
def test_vectorised_datetime_parsing_agrees_with_the_record_validator(values: list) -> None:
    chunk = pl.DataFrame(
        {"when": values, "at": values}, schema={"when": pl.String, "at": pl.String}
    )
    typed, reasons = check_chunk(chunk, DATES, DATES.validator())
    want_values, want_reasons = _reference(chunk, DATES)
    assert typed["when"].to_list() == want_values["when"]
    assert typed["at"].to_list() == want_values["at"]
    assert reasons == want_reasons


NUMBERS = _sig(
    InputField(name="age", type="integer", kind="numeric", dtype="int64"),
    InputField(name="score", type="number", kind="numeric", nullable=True, dtype="float64"),
    InputField(name="vip", type="boolean", kind="numeric", nullable=True, dtype="object"),
    InputField(
        name="plan", type="string", kind="categorical", categories=["a", "b"], dtype="object"
    ),
)


def test_a_value_that_fails_typing_gets_one_reason_naming_field_and_value() -> None:
    chunk = pl.DataFrame(
        {
            "age": ["x", "2.5", None, "7"],
            "score": ["1", "inf", "oops", None],
            "vip": ["true", "maybe", None, "0"],
            "plan": ["a", "b", "c", None],
        }
    )
    _, reasons = check_chunk(chunk, NUMBERS, NUMBERS.validator())
    assert reasons == {
        0: "field 'age': expected integer, got 'x'",
        1: "field 'age': expected integer, got '2.5'; "
        "field 'score': inf is not allowed (send null for a missing value); "
        "field 'vip': expected boolean, got 'maybe'",
        2: "field 'age' is null but is required (integer); "
        "field 'score': expected number, got 'oops'; "
        "field 'plan': unknown category 'c' (allowed: a, b)",
        3: "field 'plan' is null but is required (string)",
    }


MIXED = _sig(
    InputField(name="n", type="integer", kind="numeric", nullable=True, dtype="int64"),
    InputField(name="i", type="integer", kind="numeric", dtype="int32"),
    InputField(name="x", type="number", kind="numeric", nullable=True, dtype="float64"),
    InputField(name="b", type="boolean", kind="numeric", nullable=True, dtype="object"),
    InputField(name="bb", type="boolean", kind="numeric", dtype="bool"),
    InputField(name="s", type="string", kind="categorical", nullable=True, dtype="object"),
    InputField(name="t", type="string", kind="text", nullable=True, dtype="str"),
    NAIVE,
    AWARE,
)


@pytest.mark.parametrize("with_nulls", [False, True])
def test_model_frame_is_what_the_record_validator_builds(with_nulls: bool) -> None:
    none = None if with_nulls else 4
    chunk = pl.DataFrame(
        {
            "n": [1, none, 3],
            "i": [1, 2, 3],
            "x": [0.5, None if with_nulls else 1.5, 2.0],
            "b": [True, None if with_nulls else False, True],
            "bb": [True, False, True],
            "s": ["a", None if with_nulls else "b", "c"],
            "t": ["hello", None if with_nulls else "x", "y"],
            "when": ["2001-01-01", "2001-01-02 10:00:00", "2001-01-03T00:00:00+01:00"],
            "at": [datetime(2001, 1, 1), None if with_nulls else datetime(2001, 1, 2), None],
        }
    )
    typed, reasons = check_chunk(chunk, MIXED, MIXED.validator())
    assert reasons == {}
    validator = MIXED.validator()
    want = validator.frame(validator.columns(chunk.to_dicts())[0])
    got = model_frame(typed, MIXED)
    pd.testing.assert_frame_equal(got, want)
    for column in ("s", "b"):  # missing values are NaN objects, as the imputers expect
        assert [type(v) for v in got[column]] == [type(v) for v in want[column]]


@dataclass
class CountingBundle:
    """predict / predict_proba of a fixed rule, counting how often the pipeline runs."""

    signature: Signature
    calls: list[str] = field(default_factory=list)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append("predict_proba")
        p = frame["x"].to_numpy() / 10
        if len(self.signature.classes or []) == 3:
            return np.column_stack([1 - p, p / 2, p / 2])
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append("predict")
        if self.signature.classes is None:
            return frame["x"].to_numpy() * 2
        return np.asarray(self.signature.classes)[self.predict_proba(frame).argmax(axis=1)]


X_ONLY = InputField(name="x", type="number", kind="numeric", dtype="float64")


def test_binary_labels_come_from_one_pipeline_run_with_the_threshold() -> None:
    bundle = CountingBundle(_sig(X_ONLY, task="binary", classes=["no", "yes"]))
    columns = prediction_columns(bundle, pd.DataFrame({"x": [1.0, 3.0, 9.0]}))
    assert bundle.calls == ["predict_proba"]
    assert [c.name for c in columns] == ["prediction", "proba_no", "proba_yes"]
    assert columns[0].to_list() == ["no", "yes", "yes"]  # threshold 0.3: 0.3 >= 0.3
    assert columns[2].to_list() == pytest.approx([0.1, 0.3, 0.9])


def test_multiclass_and_regression_columns() -> None:
    multi = CountingBundle(_sig(X_ONLY, task="multiclass", classes=[1, 2, 3]))
    columns = prediction_columns(multi, pd.DataFrame({"x": [1.0, 9.0]}))
    assert [c.name for c in columns] == ["prediction", "proba_1", "proba_2", "proba_3"]
    assert columns[0].to_list() == [1, 2]
    regression = CountingBundle(_sig(X_ONLY))
    columns = prediction_columns(regression, pd.DataFrame({"x": [1.5]}))
    assert [c.name for c in columns] == ["prediction"] and columns[0].to_list() == [3.0]
    assert regression.calls == ["predict"]


def test_chunk_boundaries_do_not_change_the_output() -> None:
    sig = _sig(X_ONLY, NAIVE, task="binary", classes=["no", "yes"])
    rng = np.random.default_rng(0)
    n = 50
    x = [str(v) for v in rng.uniform(0, 10, n).round(3)]
    x[11], x[30] = "bad", None
    when = ["2001-01-01 10:00:00"] * n
    when[17], when[42] = "2001-13-01", "2001-01-01T10:00:00+05:00"
    frame = pl.DataFrame({"id": range(n), "x": x, "when": when})

    def run(size: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        bundle = CountingBundle(sig)
        parts = [
            process_chunk(i, frame.slice(i * size, size), bundle, sig.validator(), size)
            for i in range(-(-n // size))
        ]
        return (
            pl.concat([g for g, _ in parts], how="diagonal_relaxed"),
            pl.concat([b for _, b in parts], how="diagonal_relaxed"),
        )

    whole_good, whole_bad = run(n)
    assert whole_bad["__row"].to_list() == [11, 17, 30]
    assert whole_good.height == n - 3
    for size in (1, 7, 16):
        good, bad = run(size)
        assert good.equals(whole_good), size
        assert bad.equals(whole_bad), size


def test_lists_and_structs_are_rejected_and_shown_as_json() -> None:
    chunk = pl.DataFrame(
        {
            "age": [[1, 2], None, [3]],
            "score": [{"a": 1}, {"a": 2}, None],
            "vip": [True, None, False],
            "plan": [["a"], ["b"], None],
        }
    )
    typed, reasons = check_chunk(chunk, NUMBERS, NUMBERS.validator())
    assert reasons[0] == (
        "field 'age': expected integer, got [1, 2]; field 'score': expected number, "
        "got {'a': 1}; field 'plan': expected string, got ['a']"
    )
    assert reasons[1].startswith("field 'age' is null but is required (integer); ")
    assert typed.schema == {
        "age": pl.Int64,
        "score": pl.Float64,
        "vip": pl.Boolean,
        "plan": pl.String,
    }
    good, bad = process_chunk(0, chunk, CountingBundle(NUMBERS), NUMBERS.validator(), 3)
    assert good.height == 0 and bad["__row"].to_list() == [0, 1, 2]
    assert bad.row(0, named=True)["age"] == "[1, 2]"
    assert bad.row(0, named=True)["score"] == '{"a": 1}'
