"""Schema inference and the hand-editable schema.yaml."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.config.models import ValidateConfig
from conveyor.data.schema import ColumnSchema, DatasetSchema, infer_schema
from conveyor.errors import ConfigError, DataError, SchemaError

CFG = ValidateConfig()


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"c{i}" for i in range(6)],
            "age": [30, 41, None, 25, 60, 33],
            "spend": [1.5, float("nan"), 3.0, float("inf"), 0.5, 2.0],
            "active": [True, False, True, True, None, False],
            "plan": ["basic", "pro", "basic", "basic", "pro", "team"],
            "signup": [dt.date(2024, 1, d) for d in range(1, 7)],
            "seen": [dt.datetime(2024, 1, 1, h) for h in range(6)],
            "churn": ["no", "yes", "no", "no", "yes", "no"],
        }
    )


def test_infer_types_nullability_ranges_and_roles() -> None:
    schema = infer_schema(_frame(), target="churn", id_column="id", config=CFG)
    dtypes = {c.name: c.dtype for c in schema.columns}
    assert dtypes == {
        "id": "str",
        "age": "int",
        "spend": "float",
        "active": "bool",
        "plan": "category",
        "signup": "date",
        "seen": "datetime",
        "churn": "category",
    }
    age = schema.column("age")
    assert (age.nullable, age.null_rate, age.min, age.max) == (True, round(1 / 6, 6), 25.0, 60.0)
    spend = schema.column("spend")
    # NaN counts as missing and infinities do not stretch the range.
    assert (spend.nullable, spend.min, spend.max) == (True, 0.5, 3.0)
    assert schema.column("plan").categories == {
        "basic": 0.5,
        "pro": round(2 / 6, 6),
        "team": round(1 / 6, 6),
    }
    assert not schema.column("plan").nullable
    assert schema.column("id").role == "id" and schema.column("id").unique
    assert schema.column("churn").role == "target"
    assert schema.column("plan").role == "feature" and not schema.column("plan").unique
    assert (schema.rows, schema.target, schema.id_column) == (6, "churn", "id")


def test_numbers_stored_as_text_stay_text() -> None:
    frame = pl.DataFrame({"amount": ["1", "2", "3", "2"]})
    col = infer_schema(frame, target=None, id_column=None, config=CFG).column("amount")
    assert col.dtype == "category"
    assert col.categories == {"2": 0.5, "1": 0.25, "3": 0.25}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([f"v{i}" for i in range(5)], "category"),  # exactly max_categories distinct
        ([f"v{i}" for i in range(6)], "str"),  # one more, short values
        ([f"a rather long sentence of free text number {i}" for i in range(6)], "text"),
    ],
)
def test_category_str_or_text_by_cardinality_and_length(values: list[str], expected: str) -> None:
    cfg = ValidateConfig(max_categories=5)
    col = infer_schema(pl.DataFrame({"s": values}), target=None, id_column=None, config=cfg).column(
        "s"
    )
    assert col.dtype == expected
    assert (col.categories is not None) == (expected == "category")


def test_string_target_is_always_a_category_and_id_never_is() -> None:
    cfg = ValidateConfig(max_categories=2)
    frame = pl.DataFrame({"label": ["a", "b", "c", "d"], "key": ["k1", "k2", "k1", "k3"]})
    schema = infer_schema(frame, target="label", id_column="key", config=cfg)
    assert schema.column("label").dtype == "category"
    assert schema.column("key").dtype == "str" and schema.column("key").categories is None


def test_all_null_and_empty_frames() -> None:
    frame = pl.DataFrame({"empty": [None, None], "x": [1, 2]})
    col = infer_schema(frame, target=None, id_column=None, config=CFG).column("empty")
    assert (col.dtype, col.nullable, col.null_rate) == ("str", True, 1.0)
    empty = infer_schema(
        pl.DataFrame({"x": pl.Series([], dtype=pl.Int64)}), target=None, id_column=None, config=CFG
    )
    assert empty.rows == 0 and empty.column("x").null_rate == 0.0


@pytest.mark.parametrize("key", ["target", "id_column"])
def test_unknown_target_or_id_names_it_and_lists_columns(key: str) -> None:
    kwargs = {"target": None, "id_column": None, key: "chrun"}
    with pytest.raises(DataError) as err:
        infer_schema(pl.DataFrame({"churn": ["a"], "x": [1]}), config=CFG, **kwargs)
    assert f"{key} 'chrun' is not a column" in str(err.value)
    assert "columns are: churn, x" in str(err.value)
    assert "did you mean 'churn'" in str(err.value)


def test_unsupported_column_type_is_a_data_error() -> None:
    frame = pl.DataFrame({"tags": [[1, 2], [3]], "x": [1, 2]})
    with pytest.raises(DataError, match=r"tags \(List"):
        infer_schema(frame, target=None, id_column=None, config=CFG)


def test_column_lookup_suggests_a_name() -> None:
    schema = infer_schema(_frame(), target="churn", id_column="id", config=CFG)
    with pytest.raises(SchemaError, match="no column 'agee'") as err:
        schema.column("agee")
    assert err.value.hint == "did you mean 'age'?"


# ---------------------------------------------------------------- YAML


def test_yaml_is_commented_and_round_trips_exactly() -> None:
    schema = infer_schema(_frame(), target="churn", id_column="id", config=CFG)
    text = schema.to_yaml()
    assert text.startswith("# Conveyor dataset schema (format_version 1).")
    assert "#   categories" in text and "role: target" in text
    # Keys that cannot apply to a dtype are left out to keep the file short.
    plan_block = text.split("- name: plan")[1].split("- name:")[0]
    assert "min:" not in plan_block and "categories:" in plan_block
    back = DatasetSchema.from_yaml(text)
    assert back == schema
    assert back.to_yaml() == text


def test_hand_edits_are_read() -> None:
    schema = infer_schema(_frame(), target="churn", id_column="id", config=CFG)
    text = schema.to_yaml().replace("    team:", "    enterprise: 0\n    team:")
    text += "\n- name: notes\n  dtype: text\n  role: ignore\n"
    edited = DatasetSchema.from_yaml(text)
    assert "enterprise" in edited.column("plan").categories
    assert edited.column("notes") == ColumnSchema(name="notes", dtype="text", role="ignore")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda t: t.replace("dtype: int", "dtype: integer", 1),
            r"schema.yaml:\d+: columns\[1\] \(age\)\.dtype: Input should be",
        ),
        (
            lambda t: t.replace("  nullable: true", "  nulable: true", 1),
            r"schema.yaml:\d+: columns\[1\] \(age\)\.nulable: unknown key 'nulable' \(did you mean 'nullable'\?\)",
        ),
        (
            lambda t: t.replace("target: churn", "target: chrun"),
            r"target 'chrun' is not one of the columns",
        ),
        (lambda t: t.replace("max: 60.0", "max: 10.0"), r"min \(25\) is above max \(10\)"),
        (
            lambda t: t.replace("format_version: 1", "format_version: 2"),
            r"format_version 2 is not one",
        ),
        (
            lambda t: t.replace("rows: 6", "rows: 6\nrows: 7"),
            r"schema.yaml:\d+: key 'rows' appears twice",
        ),
        (lambda t: t.replace("columns:", "columns: [", 1), r"schema.yaml:\d+:\d+: malformed YAML"),
        (lambda t: "", r"schema.yaml: the schema file is empty"),
        (lambda t: "- a\n- b\n", r"expected a mapping with 'columns'"),
    ],
)
def test_yaml_errors_name_file_line_and_key(mutate, expected: str) -> None:
    text = mutate(infer_schema(_frame(), target="churn", id_column="id", config=CFG).to_yaml())
    with pytest.raises(ConfigError, match=expected):
        DatasetSchema.from_yaml(text, source="schema.yaml")


def test_yaml_error_points_at_the_right_line() -> None:
    text = infer_schema(_frame(), target="churn", id_column="id", config=CFG).to_yaml()
    text = text.replace("dtype: bool", "dtype: boolean")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "dtype: boolean" in s)
    with pytest.raises(
        ConfigError, match=rf"^conf/schema.yaml:{line}: columns\[3\] \(active\)\.dtype"
    ):
        DatasetSchema.from_yaml(text, source="conf/schema.yaml")


def test_unquoted_yaml_boolean_category_gets_a_hint() -> None:
    text = "columns:\n- name: a\n  dtype: category\n  categories:\n    yes: 0.5\n"
    with pytest.raises(ConfigError) as err:
        DatasetSchema.from_yaml(text)
    assert "schema.yaml:5" in str(err.value) and "quote category values" in str(err.value)


def test_roles_must_agree_with_target() -> None:
    with pytest.raises(ValueError, match="has role 'target' but target is None"):
        DatasetSchema(columns=[ColumnSchema(name="y", dtype="int", role="target")])
    with pytest.raises(ValueError, match="categories apply to dtype 'category'"):
        ColumnSchema(name="y", dtype="str", categories={"a": 1.0})


_tricky_text = st.one_of(
    st.text(alphabet=st.sampled_from(list("abcXYZ019 .-:#'\"\\&*!%@`{}[],|>?~é\t\n")), max_size=8),
    st.sampled_from(["yes", "No", "null", "~", "1.0", "0x1F", "2024-01-01", "true", ".inf"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cats=st.lists(st.one_of(_tricky_text, st.none()), min_size=1, max_size=30),
    nums=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()),
        min_size=1,
        max_size=30,
    ),
    ints=st.lists(st.one_of(st.integers(-(2**53), 2**53), st.none()), min_size=1, max_size=30),
)
def test_yaml_round_trip_property(
    cats: list[str | None], nums: list[float | None], ints: list[int | None]
) -> None:
    n = min(len(cats), len(nums), len(ints))
    frame = pl.DataFrame(
        {"c": cats[:n], "f": nums[:n], "i": ints[:n]},
        schema={"c": pl.String, "f": pl.Float64, "i": pl.Int64},
    )
    schema = infer_schema(
        frame, target=None, id_column=None, config=ValidateConfig(max_categories=10)
    )
    text = schema.to_yaml()
    assert DatasetSchema.from_yaml(text) == schema
    assert DatasetSchema.from_yaml(text).to_yaml() == text


def test_churn_schema(churn_csv) -> None:
    frame = pl.read_csv(churn_csv)
    schema = infer_schema(frame, target="churn", id_column=None, config=CFG)
    assert len(schema.columns) == 20 and schema.rows == 7043
    total = schema.column("total_charges")
    assert total.dtype == "float" and total.nullable and total.null_rate == round(11 / 7043, 6)
    assert schema.column("tenure").dtype == "int"
    assert (schema.column("tenure").min, schema.column("tenure").max) == (0.0, 72.0)
    churn = schema.column("churn")
    assert churn.role == "target" and churn.categories["Yes"] == pytest.approx(0.2654, abs=1e-3)
    assert set(schema.column("contract").categories) == {"Month-to-month", "One year", "Two year"}
    assert DatasetSchema.from_yaml(schema.to_yaml()) == schema
