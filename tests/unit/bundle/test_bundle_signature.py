from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.bundle import FieldError, Signature, build_signature
from conveyor.errors import ModelError


@pytest.fixture(scope="module")
def small_signature() -> Signature:
    frame = pd.DataFrame(
        {
            "age": [31, 45, 52, 28],
            "income": [1200.5, np.nan, 3400.0, 800.25],
            "plan": pd.Series(["basic", "pro", "basic", None], dtype="str"),
            "active": [True, False, True, True],
            "joined": pd.to_datetime(["2020-01-01", "2021-06-15", "2019-03-02", "2022-12-31"]),
            "note": pd.Series(["hello there", "x", "y", "z"], dtype="str"),
        }
    )
    return build_signature(
        frame,
        task="multiclass",
        target="tier",
        classes=np.array(["a", "b", "c"]),
        categorical_columns=["plan"],
        text_columns=["note"],
    )


def _valid() -> dict[str, Any]:
    return {
        "age": 40,
        "income": 1000.0,
        "plan": "pro",
        "active": False,
        "joined": "2020-05-05T10:00:00",
        "note": "hi",
    }


def test_fields_types_and_kinds_follow_the_training_frame(small_signature: Signature) -> None:
    fields = {f.name: f for f in small_signature.inputs}
    assert [f.name for f in small_signature.inputs] == [
        "age",
        "income",
        "plan",
        "active",
        "joined",
        "note",
    ]
    assert (fields["age"].type, fields["age"].kind) == ("integer", "numeric")
    assert (fields["age"].minimum, fields["age"].maximum) == (28, 52)
    assert fields["income"].type == "number" and fields["income"].nullable
    assert not fields["age"].nullable
    assert fields["plan"].categories == ["basic", "pro"] and fields["plan"].nullable
    assert fields["active"].type == "boolean"
    assert fields["joined"].type == "datetime" and fields["joined"].minimum.startswith("2019-03-02")
    assert fields["note"].kind == "text" and fields["note"].categories is None
    assert small_signature.classes == ["a", "b", "c"]
    assert small_signature.positive_class is None and small_signature.threshold is None
    assert [o.name for o in small_signature.outputs] == ["label", "probabilities"]


def test_binary_signature_records_positive_class_and_threshold(churn_signature: Signature) -> None:
    assert churn_signature.task == "binary"
    assert churn_signature.positive_class == "Yes"
    assert churn_signature.threshold == 0.4
    assert "threshold" in [o.name for o in churn_signature.outputs]
    assert churn_signature.field("contract").categories == [
        "Month-to-month",
        "One year",
        "Two year",
    ]
    assert churn_signature.format_version == 1


def test_signature_round_trips_through_json(churn_signature: Signature) -> None:
    again = Signature.model_validate_json(churn_signature.model_dump_json())
    assert again == churn_signature


def test_regression_signature_has_a_value_output() -> None:
    sig = build_signature(pd.DataFrame({"x": [1.0, 2.0]}), task="regression", target="y")
    assert [o.name for o in sig.outputs] == ["value"]
    assert sig.classes is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "binary", "classes": ["a", "b", "c"]}, "needs 2 classes"),
        ({"task": "binary", "classes": ["a", "b"], "positive_class": "z"}, "positive_class 'z'"),
        ({"task": "multiclass", "classes": None}, "at least 2 classes"),
        ({"task": "regression", "categorical_columns": ["nope"]}, "not in the training frame"),
    ],
)
def test_build_signature_rejects_inconsistent_arguments(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        build_signature(pd.DataFrame({"x": [1.0, 2.0]}), target="y", **kwargs)


def test_target_among_inputs_is_refused() -> None:
    with pytest.raises(ModelError, match="target column 'y'"):
        build_signature(pd.DataFrame({"x": [1.0], "y": [0]}), task="regression", target="y")


def test_valid_records_give_a_frame_in_training_order_and_dtypes(
    small_signature: Signature,
) -> None:
    record = _valid()
    record["income"] = None
    frame, errors = small_signature.validate_records([_valid(), record])
    assert errors == []
    assert list(frame.columns) == small_signature.input_names
    assert frame["age"].dtype == np.int64
    assert math.isnan(frame["income"][1])
    assert pd.api.types.is_datetime64_any_dtype(frame["joined"])
    assert frame["plan"].tolist() == ["pro", "pro"]


def test_null_string_becomes_nan_for_imputers(small_signature: Signature) -> None:
    record = _valid() | {"plan": None}
    frame, errors = small_signature.validate_records([record])
    assert errors == []
    assert frame["plan"].isna().all()


def _errors(sig: Signature, record: Any, **options: Any) -> list[FieldError]:
    return sig.validate_records([_valid(), record], **options)[1]


@pytest.mark.parametrize(
    ("change", "field", "problem", "text"),
    [
        ({"age": None}, "age", "null", "is null but is required"),
        ({"age": "forty"}, "age", "type", "expected integer, got string 'forty'"),
        ({"age": 40.5}, "age", "type", "expected integer, got 40.5"),
        ({"age": True}, "age", "type", "expected integer, got boolean"),
        ({"income": float("nan")}, "income", "nan", "nan is not allowed"),
        ({"income": float("inf")}, "income", "nan", "inf is not allowed"),
        ({"income": "12"}, "income", "type", "expected number, got string '12'"),
        (
            {"plan": "gold"},
            "plan",
            "unknown_category",
            "unknown category 'gold' (allowed: basic, pro)",
        ),
        ({"plan": 3}, "plan", "type", "expected string, got integer 3"),
        ({"active": "yes"}, "active", "type", "expected boolean, got string"),
        ({"joined": "yesterday"}, "joined", "type", "expected an ISO 8601 datetime"),
        ({"joined": 5}, "joined", "type", "expected an ISO 8601 datetime string, got integer"),
    ],
)
def test_each_kind_of_bad_field_is_named(
    small_signature: Signature, change: dict[str, Any], field: str, problem: str, text: str
) -> None:
    errors = _errors(small_signature, _valid() | change)
    assert len(errors) == 1
    err = errors[0]
    assert (err.index, err.field, err.problem) == (1, field, problem)
    assert text in err.message
    assert err.message.startswith(f"record 1: field '{field}'")
    assert err.to_dict()["problem"] == problem


def test_missing_required_field(small_signature: Signature) -> None:
    record = _valid()
    del record["age"]
    (err,) = _errors(small_signature, record)
    assert (err.field, err.problem) == ("age", "missing")
    assert "is missing but is required (integer)" in err.message


def test_absent_nullable_field_is_null(small_signature: Signature) -> None:
    record = _valid()
    del record["income"]
    assert _errors(small_signature, record) == []


def test_out_of_range_only_when_strict(small_signature: Signature) -> None:
    record = _valid() | {"age": 99, "joined": "2030-01-01"}
    assert _errors(small_signature, record) == []
    errors = _errors(small_signature, record, strict_ranges=True)
    assert [(e.field, e.problem) for e in errors] == [
        ("age", "out_of_range"),
        ("joined", "out_of_range"),
    ]
    assert "outside the training range [28, 52]" in errors[0].message


def test_unknown_category_allowed_when_not_strict(small_signature: Signature) -> None:
    assert _errors(small_signature, _valid() | {"plan": "gold"}, strict_categories=False) == []


def test_extra_fields_ignored_or_rejected(small_signature: Signature) -> None:
    record = _valid() | {"tier": "a"}
    assert _errors(small_signature, record) == []
    (err,) = _errors(small_signature, record, extra="reject")
    assert (err.field, err.problem) == ("tier", "unexpected")


def test_non_object_record_is_reported_not_crashing(small_signature: Signature) -> None:
    frame, errors = small_signature.validate_records([_valid(), ["not", "a", "dict"]])  # type: ignore[list-item]
    assert len(frame) == 2
    assert [(e.index, e.problem) for e in errors] == [(1, "not_an_object")]


def test_invalid_cells_are_null_in_the_frame(small_signature: Signature) -> None:
    frame, errors = small_signature.validate_records([_valid() | {"income": "x"}])
    assert len(errors) == 1 and math.isnan(frame["income"][0])


def test_unknown_extra_option_is_refused(small_signature: Signature) -> None:
    with pytest.raises(ModelError, match="extra must be"):
        small_signature.validate_records([_valid()], extra="drop")  # type: ignore[arg-type]


def test_aware_datetimes_are_converted_to_naive_utc(small_signature: Signature) -> None:
    frame, errors = small_signature.validate_records(
        [_valid() | {"joined": "2020-05-05T12:00:00+02:00"}]
    )
    assert errors == []
    assert frame["joined"][0] == pd.Timestamp("2020-05-05T10:00:00")


def test_churn_test_rows_validate_cleanly(
    churn: Any, churn_signature: Signature, to_records: Any
) -> None:
    records = to_records(churn.X_test.dropna())
    frame, errors = churn_signature.validate_records(records, strict_categories=True)
    assert errors == []
    assert len(frame) == len(records)


def test_decide_uses_threshold_for_binary(churn_signature: Signature) -> None:
    assert churn_signature.decide([0.55, 0.45]) == "Yes"  # 0.45 >= 0.4
    assert churn_signature.decide([0.65, 0.35]) == "No"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_decide_many_agrees_with_decide_row_by_row(
    churn_signature: Signature, p_yes: list[float]
) -> None:
    proba = np.array([[1.0 - p, p] for p in p_yes])
    labels = churn_signature.decide_many(proba)
    assert list(labels) == [churn_signature.decide(list(row)) for row in proba]


_json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["age", "income", "plan", "active", "joined", "note", "zz"]),
            _json_values,
        ),
        max_size=5,
    )
)
def test_validation_never_crashes_and_errors_name_real_records(
    small_signature: Signature, records: list[dict[str, Any]]
) -> None:
    frame, errors = small_signature.validate_records(records, extra="reject", strict_ranges=True)
    assert len(frame) == len(records)
    for err in errors:
        assert 0 <= err.index < len(records)
        assert err.message.startswith(f"record {err.index}")
    # A record without errors carries its required integer through unchanged.
    bad = {e.index for e in errors}
    for i, record in enumerate(records):
        if i not in bad:
            assert float(record["age"]).is_integer()
            assert int(frame["age"][i]) == int(record["age"])
