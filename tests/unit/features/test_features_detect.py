"""Column type detection: declared lists win, the rest is detected, with reasons for drops."""

from __future__ import annotations

import datetime as dt
import json
import re

import polars as pl
import pytest

from conveyor.config.models import FeaturesConfig
from conveyor.errors import ConfigError, DataError, ModelError
from conveyor.features import ColumnTypes, detect_column_types


def _detect(frame: pl.DataFrame, **config: object) -> ColumnTypes:
    return detect_column_types(
        frame, target="target", id_column=None, config=FeaturesConfig(**config)
    )


def test_churn_data_has_nine_numeric_and_ten_categorical(churn_frame: pl.DataFrame) -> None:
    types = detect_column_types(
        churn_frame, target="churn", id_column=None, config=FeaturesConfig()
    )
    assert types.numeric == (
        "female",
        "senior_citizen",
        "partner",
        "dependents",
        "tenure",
        "phone_service",
        "paperless_billing",
        "monthly_charges",
        "total_charges",
    )
    assert len(types.categorical) == 10  # the README's 11 string columns include the target
    assert "contract" in types.categorical and "payment_method" in types.categorical
    assert types.text == () and types.datetime == () and types.dropped == {}
    assert "churn" not in types.features
    assert types.input_columns == tuple(c for c in churn_frame.columns if c != "churn")
    lines = types.describe()
    assert lines[0].startswith("numeric (9): female, senior_citizen, partner")
    assert lines[1].startswith("categorical (10): multiple_lines, internet_service")


def test_small_frame_kinds_and_drop_reasons(small_frame: pl.DataFrame) -> None:
    types = _detect(small_frame)
    assert types.numeric == ("amount", "count", "flag")
    assert types.categorical == ("colour",)
    assert types.text == ("note",)
    assert types.datetime == ("signup",)
    assert types.dropped == {
        "row_id": "id-like: unique consecutive integers",
        "code": "id-like: every value unique",
        "constant": "constant",
        "empty": "all missing",
    }
    assert any("'empty' dropped: all missing" in w for w in types.warnings)
    assert types.describe()[-1].startswith(
        "dropped (4): row_id (id-like: unique consecutive integers)"
    )


def test_zero_one_floats_are_numeric_and_datetimes_are_datetime() -> None:
    frame = pl.DataFrame(
        {
            "binary": [0.0, 1.0, 1.0, None],
            "when": [dt.datetime(2021, 1, i + 1) for i in range(4)],
            "day": [dt.date(2021, 1, i + 1) for i in range(4)],
            "target": [1, 0, 1, 0],
        }
    )
    types = _detect(frame)
    assert types.numeric == ("binary",)
    assert types.datetime == ("when", "day")


def test_single_value_with_missing_is_categorical_and_lists_are_unsupported() -> None:
    frame = pl.DataFrame(
        {
            "present": ["yes", None, "yes", None],
            "tags": [[1], [2], [], None],
            "target": [0, 1, 0, 1],
        }
    )
    types = _detect(frame)
    assert types.categorical == ("present",)
    assert types.dropped["tags"].startswith("unsupported type List")


def test_many_short_strings_are_categorical_with_a_warning() -> None:
    n = 200
    frame = pl.DataFrame(
        {"city": [f"town{i % 80}" for i in range(n)], "target": [i % 2 for i in range(n)]}
    )
    types = _detect(frame)
    assert types.categorical == ("city",)
    assert any("80 distinct values" in w for w in types.warnings)


def test_declared_kinds_win_and_a_declared_list_is_complete(small_frame: pl.DataFrame) -> None:
    types = _detect(small_frame, numeric=["count"], categorical=["flag", "row_id"])
    assert types.numeric == ("count",)
    assert types.categorical == ("flag", "row_id")
    assert types.dropped["amount"] == "detected as numeric, but features.numeric does not list it"
    assert (
        types.dropped["colour"]
        == "detected as categorical, but features.categorical does not list it"
    )
    assert types.text == ("note",)


def test_drop_and_id_column_are_reported(small_frame: pl.DataFrame) -> None:
    types = detect_column_types(
        small_frame, target="target", id_column="code", config=FeaturesConfig(drop=["note"])
    )
    assert types.dropped["note"] == "dropped in config"
    assert types.dropped["code"] == "id column"
    assert "note" not in types.features


def test_derived_features_join_their_kind(small_frame: pl.DataFrame) -> None:
    types = _detect(
        small_frame,
        derived={
            "per_count": "amount / (count + 1)",
            "is_red": "colour == 'red'",
            "shade": "coalesce(colour, 'none')",
        },
    )
    assert types.numeric[-2:] == ("per_count", "is_red")
    assert types.categorical[-1] == "shade"
    assert types.derived_names == ("per_count", "is_red", "shade")
    assert "per_count (derived)" in types.describe()[0]
    summary = types.as_dict()
    assert summary["derived"]["per_count"] == "amount / (count + 1)"
    assert summary["categorical"][-1] == "shade" and summary["dropped"]["empty"] == "all missing"
    json.dumps(summary)


def test_describe_cuts_long_lists() -> None:
    frame = pl.DataFrame(
        {f"c{i}": [float(i), float(i + 1)] for i in range(30)} | {"target": [0, 1]}
    )
    line = _detect(frame).describe()[0]
    assert line.startswith("numeric (30): c0, c1,")
    assert line.endswith("… (+15 more)")


# ---------------------------------------------------------------- bad input


def test_declared_all_missing_column_is_a_model_error(small_frame: pl.DataFrame) -> None:
    with pytest.raises(
        ModelError, match=re.escape("features.numeric: column 'empty' is missing in every row")
    ):
        _detect(small_frame, numeric=["amount", "empty"])


def test_declared_unknown_column_names_the_key_and_suggests(small_frame: pl.DataFrame) -> None:
    with pytest.raises(ConfigError) as info:
        _detect(small_frame, categorical=["colour", "colur"])
    assert (
        info.value.headline
        == "features.categorical[1]: there is no column 'colur' in the data (did you mean 'colour'?)"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"numeric": ["count"], "categorical": ["count"]},
            "features.categorical[0]: 'count' is already declared as numeric",
        ),
        ({"numeric": ["target"]}, "features.numeric[0]: 'target' is the target"),
        (
            {"numeric": ["count"], "drop": ["count"]},
            "features.numeric[0]: 'count' is also in features.drop",
        ),
        (
            {"drop": ["amout"]},
            "features.drop[0]: there is no column 'amout' in the data (did you mean 'amount'?)",
        ),
    ],
)
def test_conflicting_declarations(
    small_frame: pl.DataFrame, config: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _detect(small_frame, **config)
    assert info.value.headline.startswith(message)


def test_declared_kind_the_data_cannot_hold(small_frame: pl.DataFrame) -> None:
    with pytest.raises(
        DataError,
        match=re.escape("features.numeric: column 'colour' holds String values such as 'red'"),
    ):
        _detect(small_frame, numeric=["colour"])
    with pytest.raises(DataError, match="do not parse as dates"):
        _detect(small_frame, datetime=["colour"])
    with pytest.raises(DataError, match=re.escape("features.text: column 'count' holds Int64")):
        _detect(small_frame, text=["count"])


def test_missing_target_or_id_column(small_frame: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="target: there is no column 'targt'"):
        detect_column_types(small_frame, target="targt", id_column=None, config=FeaturesConfig())
    with pytest.raises(
        ConfigError,
        match="id_column: there is no column 'cod' in the data \\(did you mean 'code'\\?\\)",
    ):
        detect_column_types(small_frame, target="target", id_column="cod", config=FeaturesConfig())


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        (
            {"r": "amount / cnt"},
            "features.derived.r: expression 'amount / cnt': refers to unknown column 'cnt' at column 10",
        ),
        (
            {"r": "amount / (count + "},
            "features.derived.r: expression 'amount / (count + ': unexpected end at column 18",
        ),
        (
            {"r": "target * 2"},
            "features.derived.r: expression 'target * 2': uses the target column 'target' at column 1",
        ),
        (
            {"amount": "count * 2"},
            "features.derived.amount: 'amount' is already a column of the data",
        ),
        ({"r": "null"}, "features.derived.r: expression 'null' is always null"),
        ({"r": "colour * 2"}, "'*' needs numbers, but column 'colour' is a string"),
        ({"r": "lg(amount)"}, "unknown function 'lg'"),
    ],
)
def test_bad_derived_features(
    small_frame: pl.DataFrame, derived: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _detect(small_frame, derived=derived)
    assert message in info.value.headline


def test_derived_features_join_a_declared_list(small_frame: pl.DataFrame) -> None:
    types = _detect(small_frame, numeric=["count"], derived={"double": "amount * 2"})
    assert types.numeric == ("count", "double")


def test_derived_features_may_use_earlier_ones_only(small_frame: pl.DataFrame) -> None:
    types = _detect(small_frame, derived={"a2": "amount * 2", "a4": "a2 * 2"})
    assert types.derived_names == ("a2", "a4")
    with pytest.raises(ConfigError, match="refers to unknown column 'a4'"):
        _detect(small_frame, derived={"a2": "a4 * 2", "a4": "amount * 2"})


def test_derived_features_cannot_read_the_id_column(small_frame: pl.DataFrame) -> None:
    config = FeaturesConfig(derived={"r": "row_id * 2"})
    with pytest.raises(ConfigError, match="refers to unknown column 'row_id'"):
        detect_column_types(small_frame, target="target", id_column="row_id", config=config)
