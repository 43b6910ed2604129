"""Conveyor's own transformers: raw pandas columns in, uniform arrays out."""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from conveyor.errors import ConfigError, DataError
from conveyor.features import (
    CategoryStrings,
    DatetimeParts,
    DerivedFeatures,
    HashingEncoder,
    Log1pClipped,
    TextColumn,
    ToFloat,
)


def test_to_float_accepts_objects_booleans_and_missing_markers() -> None:
    frame = pd.DataFrame(
        {
            "a": pd.Series([1, None, 3], dtype=object),
            "b": [True, False, True],
            "c": pd.array([1, pd.NA, 2], dtype="Int64"),
        }
    )
    out = ToFloat().fit(frame).transform(frame)
    np.testing.assert_array_equal(out, [[1.0, 1.0, 1.0], [np.nan, 0.0, np.nan], [3.0, 1.0, 2.0]])


def test_to_float_names_the_column_with_text() -> None:
    frame = pd.DataFrame({"amount": pd.Series([1, "lots"], dtype=object)})
    with pytest.raises(DataError, match="column 'amount' must be numeric but holds 'lots'"):
        ToFloat().fit(frame).transform(frame)


def test_category_strings_unify_ints_floats_and_missing() -> None:
    train = pd.DataFrame({"code": [1.0, 2.0, np.nan, 2.5], "yes": [True, False, None, True]})
    request = pd.DataFrame({"code": pd.Series([1], dtype=object), "yes": [False]})
    enc = CategoryStrings().fit(train)
    out = enc.transform(train)
    assert out[:, 0].tolist()[:2] == ["1", "2"] and out[3, 0] == "2.5"
    assert isinstance(out[2, 0], float) and math.isnan(out[2, 0])
    assert out[:, 1].tolist()[:2] == ["True", "False"] and math.isnan(out[2, 1])
    assert enc.transform(request).tolist() == [["1", "False"]]


def test_text_column_fills_missing_with_empty_text() -> None:
    series = pd.DataFrame({"review": ["good", None, "bad"]})
    out = TextColumn().fit(series).transform(series)
    assert out.tolist() == ["good", "", "bad"]
    with pytest.raises(DataError, match="takes one column"):
        TextColumn().fit(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_hashing_encoder_is_stable_and_blocks_per_column() -> None:
    frame = pd.DataFrame({"city": ["paris", "rome", None], "shop": ["a", "a", "b"]})
    enc = HashingEncoder(n_features=8).fit(frame)
    out = enc.transform(frame)
    assert out.shape == (3, 16)
    assert out[0, :8].sum() == 1 and out[2, :8].sum() == 0  # one bucket per value; missing -> zeros
    np.testing.assert_array_equal(enc.transform(frame.iloc[[1]]), out[[1]])
    np.testing.assert_array_equal(clone(enc).fit(frame).transform(frame), out)
    assert enc.get_feature_names_out()[:2].tolist() == ["city_hash0", "city_hash1"]
    with pytest.raises(
        ValueError, match="'n_features' parameter of HashingEncoder must be an int >= 2"
    ):
        HashingEncoder(n_features=1).fit(frame)


def test_log1p_clipped_tolerates_zero_negative_and_nan() -> None:
    out = (
        Log1pClipped()
        .fit(np.zeros((1, 1)))
        .transform(np.array([[0.0], [-5.0], [math.e - 1], [np.nan]]))
    )
    np.testing.assert_allclose(out[:3, 0], [0.0, 0.0, 1.0])
    assert math.isnan(out[3, 0])


# ---------------------------------------------------------------- datetime


def test_datetime_parts_from_strings_and_datetimes() -> None:
    frame = pd.DataFrame(
        {
            "text": ["2021-03-15 10:30", "2021-12-31 23:00", None],
            "stamp": pd.to_datetime(["2020-01-01", "2020-06-01", "2020-12-31"]),
        }
    )
    parts = DatetimeParts(
        parts=["year", "month", "day", "dayofweek", "hour", "dayofyear"], cyclical=False
    )
    out = parts.fit(frame).transform(frame)
    names = parts.get_feature_names_out().tolist()
    assert names[:6] == [
        "text_year",
        "text_month",
        "text_day",
        "text_dayofweek",
        "text_hour",
        "text_dayofyear",
    ]
    row = dict(zip(names, out[0]))
    assert (row["text_year"], row["text_month"], row["text_day"], row["text_hour"]) == (
        2021,
        3,
        15,
        10,
    )
    assert row["text_dayofweek"] == 0  # Monday
    assert row["stamp_dayofyear"] == 1
    assert not np.isnan(out).any()  # the missing date is filled with training medians
    assert out[2, 0] == np.median([2021, 2021])


def test_datetime_cyclical_month_puts_december_next_to_january() -> None:
    frame = pd.DataFrame({"d": ["2021-01-15", "2021-12-15", "2021-07-15"]})
    parts = DatetimeParts(parts=["month"], cyclical=True).fit(frame)
    assert parts.get_feature_names_out().tolist() == ["d_month_sin", "d_month_cos"]
    out = parts.transform(frame)
    jan, dec, jul = out
    assert np.linalg.norm(jan - dec) < np.linalg.norm(jan - jul)
    np.testing.assert_allclose(np.hypot(out[:, 0], out[:, 1]), 1.0)


def test_datetime_age_against_fit_time_max_or_a_reference_column() -> None:
    frame = pd.DataFrame(
        {"signup": ["2021-01-01", "2021-01-11"], "asof": ["2021-02-01", "2021-02-01"]}
    )
    latest = DatetimeParts(parts=["age_days"]).fit(frame[["signup"]])
    np.testing.assert_allclose(latest.transform(frame[["signup"]])[:, 0], [10.0, 0.0])
    # A later request keeps the training reference: age grows.
    np.testing.assert_allclose(
        latest.transform(pd.DataFrame({"signup": ["2020-12-31"]}))[:, 0], [11.0]
    )
    ref = DatetimeParts(parts=["age_days"], reference_column="asof").fit(frame)
    assert ref.get_feature_names_out().tolist() == ["signup_age_days"]
    np.testing.assert_allclose(ref.transform(frame)[:, 0], [31.0, 21.0])


def test_datetime_handles_time_zones_and_mixed_formats() -> None:
    aware = pd.DataFrame(
        {"t": pd.to_datetime(["2021-01-01 23:30"]).tz_localize("America/New_York")}
    )
    out = DatetimeParts(parts=["day", "hour"], cyclical=False).fit(aware).transform(aware)
    np.testing.assert_array_equal(out, [[2.0, 4.0]])  # 04:30 UTC on the 2nd
    mixed = pd.DataFrame({"t": ["2021-01-05", "Jan 6 2021", "06/01/2021", "7 January 2021"]})
    parts = DatetimeParts(parts=["year"], cyclical=False).fit(mixed)
    assert parts.formats_["t"] == "mixed"
    np.testing.assert_array_equal(parts.transform(mixed)[:, 0], [2021.0] * 4)


def test_datetime_sentinel_dates_beyond_the_nanosecond_range() -> None:
    frame = pd.DataFrame({"until": ["2021-01-01", "9999-12-31"]})
    parts = DatetimeParts(parts=["year", "age_days"], cyclical=False).fit(frame)
    out = parts.transform(frame)
    assert out[1, 0] == 9999 and out[1, 1] == 0.0
    assert out[0, 1] == pytest.approx(
        (pd.Timestamp("9999-12-31") - pd.Timestamp("2021-01-01")).days
    )


def test_datetime_string_request_against_a_datetime_training_column() -> None:
    train = pd.DataFrame({"d": pd.to_datetime(["2021-01-01", "2021-06-01"])})
    parts = DatetimeParts(parts=["month"], cyclical=False).fit(train)
    np.testing.assert_array_equal(parts.transform(pd.DataFrame({"d": ["2021-03-04"]})), [[3.0]])


def test_datetime_rejects_unknown_parts_and_missing_columns() -> None:
    frame = pd.DataFrame({"d": ["2021-01-01"]})
    with pytest.raises(ValueError, match="'parts' parameter of DatetimeParts"):
        DatetimeParts(parts=["week"]).fit(frame)
    with pytest.raises(DataError, match="age reference column 'asof'"):
        DatetimeParts(reference_column="asof").fit(frame)
    fitted = DatetimeParts().fit(frame)
    with pytest.raises(DataError, match="need column\\(s\\) 'd'"):
        fitted.transform(pd.DataFrame({"e": ["2021-01-01"]}))


# ---------------------------------------------------------------- derived features


@pytest.fixture
def batch() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "total": [100.0, 50.0, np.nan, 7.0],
            "tenure": [3.0, 0.0, 5.0, np.nan],
            "contract": pd.Series(["Two year", "Month", None, "Month"], dtype="str"),
            "active": pd.Series([True, False, None, True], dtype=object),
        }
    )


EXPRESSIONS = {
    "rate": "total / (tenure + 1)",
    "long": "contract == 'Two year' and active",
    "bucket": "if(tenure > 2, 'old', 'new')",
    "rate2": "coalesce(rate, 0) * 2",
}


def test_derived_features_add_columns(batch: pd.DataFrame) -> None:
    derived = DerivedFeatures(expressions=EXPRESSIONS).fit(batch)
    out = derived.transform(batch)
    assert list(out.columns) == [*batch.columns, "rate", "long", "bucket", "rate2"]
    np.testing.assert_allclose(out["rate"].to_numpy(), [25.0, 50.0, np.nan, np.nan])
    np.testing.assert_array_equal(out["long"].to_numpy(), [1.0, 0.0, np.nan, 0.0])
    assert out["bucket"].tolist() == [
        "old",
        "new",
        "old",
        "new",
    ]  # a null condition takes the else branch
    np.testing.assert_allclose(out["rate2"].to_numpy(), [50.0, 100.0, 0.0, 0.0])
    assert derived.output_kinds_ == {
        "rate": "number",
        "long": "bool",
        "bucket": "string",
        "rate2": "number",
    }
    assert derived.get_feature_names_out().tolist()[-4:] == ["rate", "long", "bucket", "rate2"]


def test_one_record_is_transformed_like_its_row_in_the_batch(batch: pd.DataFrame) -> None:
    derived = DerivedFeatures(expressions=EXPRESSIONS).fit(batch)
    full = derived.transform(batch)
    for i in range(len(batch)):
        # A request arrives as a plain dict: ints, None and strings in object columns.
        record = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in batch.iloc[i].items()
        }
        one = derived.transform(pd.DataFrame([record]))
        pd.testing.assert_frame_equal(
            one[list(EXPRESSIONS)].reset_index(drop=True),
            full.iloc[[i]][list(EXPRESSIONS)].reset_index(drop=True),
            check_dtype=False,
        )


def test_transform_record_matches_the_batch(batch: pd.DataFrame) -> None:
    derived = DerivedFeatures(expressions=EXPRESSIONS).fit(batch)
    full = derived.transform(batch)
    for i in range(len(batch)):
        record = batch.iloc[i].to_dict()  # pandas hands over NaN for missing numbers
        out = derived.transform_record(record)
        for name in EXPRESSIONS:
            expected = full[name].iloc[i]
            if isinstance(expected, float) and math.isnan(expected):
                assert isinstance(out[name], float) and math.isnan(out[name])
            else:
                assert out[name] == expected, (i, name)
    with pytest.raises(DataError, match="column 'total' must be a number, got 'lots'"):
        derived.transform_record({"total": "lots", "tenure": 1})


def test_derived_features_survive_pickle_and_clone(batch: pd.DataFrame) -> None:
    derived = DerivedFeatures(expressions=EXPRESSIONS).fit(batch)
    restored = pickle.loads(pickle.dumps(derived))
    assert not hasattr(restored, "_plan")
    pd.testing.assert_frame_equal(restored.transform(batch), derived.transform(batch))
    assert clone(derived).get_params() == {"expressions": EXPRESSIONS}


def test_derived_features_errors(batch: pd.DataFrame) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "features.derived.r: expression 'totl / 2': refers to unknown column 'totl'"
        ),
    ):
        DerivedFeatures(expressions={"r": "totl / 2"}).fit(batch)
    fitted = DerivedFeatures(expressions={"r": "total / 2"}).fit(batch)
    with pytest.raises(DataError, match="need column\\(s\\) 'total'"):
        fitted.transform(batch.drop(columns="total"))
    with pytest.raises(DataError, match="pandas DataFrame"):
        fitted.transform(batch.to_numpy())
    bad = batch.assign(total=pd.Series(["x", "y", "z", "w"], dtype=object))
    with pytest.raises(DataError, match="type seen in training"):
        fitted.transform(bad)


def test_no_expressions_is_a_no_op(batch: pd.DataFrame) -> None:
    assert DerivedFeatures().fit(batch).transform(batch) is batch


def test_constant_expressions_still_give_one_value_per_row(batch: pd.DataFrame) -> None:
    out = DerivedFeatures(expressions={"one": "1 + 1"}).fit(batch).transform(batch)
    assert out["one"].tolist() == [2.0] * 4
