"""Validation of new data against an inferred schema."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest

from conveyor.config.models import ValidateConfig
from conveyor.data.schema import ColumnSchema, DatasetSchema, infer_schema
from conveyor.data.validate import validate_frame
from conveyor.errors import SchemaError

WARN = ValidateConfig(on_violation="warn")
DROP = ValidateConfig(on_violation="drop_rows")
FAIL = ValidateConfig(on_violation="fail")


def _reference() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e", "f"],
            "age": [20, 30, 40, 50, 60, 25],
            "spend": [1.0, 2.0, None, 4.0, 5.0, 3.0],
            "plan": ["basic", "pro", "basic", "team", "pro", "basic"],
            "y": ["no", "yes", "no", "no", "yes", "no"],
        }
    )


@pytest.fixture
def schema() -> DatasetSchema:
    return infer_schema(_reference(), target="y", id_column="id", config=WARN)


def _kinds(result) -> dict[tuple[str, str | None], int]:
    return {(v.kind, v.column): v.count for v in result.violations}


def test_reference_data_passes_and_is_typed(schema: DatasetSchema) -> None:
    result = validate_frame(_reference(), schema, FAIL)
    assert result.passed and result.violations == []
    assert result.frame.equals(_reference())
    assert result.rejects.height == 0 and {"__row", "__reason"} <= set(result.rejects.columns)
    assert result.report["passed"] and result.report["rows_kept"] == 6


@pytest.mark.parametrize("config", [WARN, DROP, FAIL])
def test_missing_column_always_fails(schema: DatasetSchema, config: ValidateConfig) -> None:
    with pytest.raises(
        SchemaError, match=r"missing_column spend: column 'spend' \(float\) is missing"
    ) as err:
        validate_frame(_reference().drop("spend"), schema, config)
    assert "the data has: id, age, plan, y" in str(err.value)
    assert [v.kind for v in err.value.violations] == ["missing_column"]


def test_ignored_column_may_be_missing_and_is_not_checked(schema: DatasetSchema) -> None:
    cols = [
        c.model_copy(update={"role": "ignore"}) if c.name == "plan" else c for c in schema.columns
    ]
    edited = schema.model_copy(update={"columns": cols})
    assert validate_frame(_reference().drop("plan"), edited, FAIL).passed
    unseen = _reference().with_columns(pl.lit("gold").alias("plan"))
    assert validate_frame(unseen, edited, FAIL).passed


def test_extra_columns_are_reported_unless_allowed(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(pl.lit(1).alias("new"))
    assert _kinds(validate_frame(frame, schema, WARN)) == {("extra_column", "new"): 6}
    with pytest.raises(SchemaError, match="column 'new' is not in the schema"):
        validate_frame(frame, schema, FAIL)
    allowed = ValidateConfig(on_violation="fail", allow_extra_columns=True)
    assert validate_frame(frame, schema, allowed).frame.columns[-1] == "new"
    kept = validate_frame(frame, schema, DROP)
    assert kept.frame.height == 6 and kept.rejects.height == 0


def test_int_as_integral_float_and_numbers_as_clean_text_are_fine(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(
        pl.col("age").cast(pl.Float64), pl.col("spend").cast(pl.String).str.replace(r"^", " ")
    )
    result = validate_frame(frame, schema, FAIL)
    assert result.passed
    assert result.frame.schema["age"] == pl.Int64 and result.frame.schema["spend"] == pl.Float64
    assert result.frame["spend"].to_list() == [1.0, 2.0, None, 4.0, 5.0, 3.0]


def test_some_unreadable_values_are_row_level_type_mismatches(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(pl.Series("age", [20.0, 30.5, 40.0, 50.0, 60.0, 25.0]))
    result = validate_frame(frame, schema, WARN)
    assert _kinds(result) == {("type_mismatch", "age"): 1}
    (v,) = result.violations
    assert v.examples[0]["__row"] == 1 and v.examples[0]["age"] == 30.5
    assert "kept as missing" in v.message and result.frame["age"][1] is None
    dropped = validate_frame(frame, schema, DROP)
    assert dropped.rejects["__row"].to_list() == [1]
    assert dropped.rejects["__reason"].to_list() == ["type_mismatch(age)"]
    assert dropped.rejects["age"].to_list() == [30.5]  # rejects keep the original value


def test_blank_text_in_a_number_column_is_missing_not_a_mismatch(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(pl.Series("spend", ["1", " ", "", "4", "5", "3"]))
    result = validate_frame(frame, schema, WARN)
    assert ("type_mismatch", "spend") not in _kinds(result)
    assert _kinds(result) == {("null_rate_jump", "spend"): 2}


@pytest.mark.parametrize("config", [WARN, DROP])
def test_wholly_unreadable_or_incompatible_column_always_fails(schema, config) -> None:
    text = _reference().with_columns(pl.Series("age", ["old", "young", "x", "y", "z", "w"]))
    with pytest.raises(SchemaError, match=r"column 'age' should be int but none of its 6 values"):
        validate_frame(text, schema, config)
    dates = _reference().with_columns(pl.date(2024, 1, 1).alias("spend"))
    with pytest.raises(SchemaError, match=r"column 'spend' should be float but got date"):
        validate_frame(dates, schema, config)


def test_out_of_range_with_tolerance(schema: DatasetSchema) -> None:
    # age range 20..60, span 40: 62 is out at tolerance 0 and in at 0.1 (slack 4).
    frame = _reference().with_columns(pl.Series("age", [20, 62, 40, 50, 10, 25]))
    result = validate_frame(frame, schema, WARN)
    assert _kinds(result) == {("out_of_range", "age"): 2}
    assert "outside [20, 60]" in result.violations[0].message
    loose = ValidateConfig(on_violation="warn", range_tolerance=0.1)
    assert _kinds(validate_frame(frame, schema, loose)) == {("out_of_range", "age"): 1}
    off = ValidateConfig(on_violation="fail", check_ranges=False)
    assert validate_frame(frame, schema, off).passed


def test_unseen_categories_listed_with_examples(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(
        pl.Series("plan", ["gold", "pro", "gold", "silver", "pro", "basic"])
    )
    result = validate_frame(frame, schema, WARN)
    (v,) = result.violations
    assert (v.kind, v.column, v.count) == ("unseen_category", "plan", 3)
    assert "'gold', 'silver'" in v.message and "known: basic, pro, team" in v.message
    assert [e["__row"] for e in v.examples] == [0, 2, 3]
    assert v.examples[0] == {
        "__row": 0,
        **_reference().with_columns(pl.lit("gold").alias("plan")).row(0, named=True),
    }
    assert validate_frame(frame, schema, ValidateConfig(check_categories=False)).passed


def test_null_rate_jump_and_nulls_in_required(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(
        pl.Series("spend", [None, None, None, 4.0, 5.0, 3.0]),
        pl.Series("plan", ["basic", None] * 3),
    )
    result = validate_frame(frame, schema, WARN)
    assert _kinds(result) == {("null_rate_jump", "spend"): 3, ("null_in_required", "plan"): 3}
    jump = next(v for v in result.violations if v.kind == "null_rate_jump")
    assert "50.0% of rows are missing, above the schema's 16.7% + tolerance 10.0%" in jump.message
    tolerant = ValidateConfig(on_violation="warn", null_rate_tolerance=0.5)
    assert _kinds(validate_frame(frame, schema, tolerant)) == {("null_in_required", "plan"): 3}
    dropped = validate_frame(frame, schema, DROP)
    # Only the row-level violation removes rows; the rate jump is reported.
    assert dropped.rejects["__row"].to_list() == [1, 3, 5] and dropped.frame.height == 3


def test_duplicate_ids_keep_the_first(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(pl.Series("id", ["a", "b", "a", "c", "a", "b"]))
    result = validate_frame(frame, schema, DROP)
    assert _kinds(result) == {("duplicate_id", "id"): 3}
    assert result.rejects["__row"].to_list() == [2, 4, 5]
    assert result.frame["id"].to_list() == ["a", "b", "c"]


def test_fail_mode_lists_every_violation_with_counts_and_examples(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(
        pl.Series("age", [20, 99, 40, 50, 60, 25]),
        pl.Series("plan", ["basic", "pro", "gold", "team", "pro", "gold"]),
    )
    with pytest.raises(SchemaError) as err:
        validate_frame(frame, schema, FAIL)
    text = str(err.value)
    assert text.startswith("validate: 2 violations in 6 rows (validate.on_violation: fail)")
    assert "out_of_range: column 'age': 1 value outside [20, 60]" in text and "99 (row 1)" in text
    assert "unseen_category: column 'plan': 2 rows" in text
    assert "on_violation to 'drop_rows'" in text
    assert [v.kind for v in err.value.violations] == ["out_of_range", "unseen_category"]


def test_drop_rows_loses_nothing_and_joins_reasons(schema: DatasetSchema) -> None:
    frame = _reference().with_columns(
        pl.Series("age", [20, 99, 40, 50, 60, 25]),
        pl.Series("plan", ["basic", "gold", "gold", "team", "pro", "x"]),
    )
    result = validate_frame(frame, schema, DROP)
    assert result.frame.height + result.rejects.height == frame.height
    assert result.rejects.select("__row", "__reason").rows() == [
        (1, "out_of_range(age); unseen_category(plan)"),
        (2, "unseen_category(plan)"),
        (5, "unseen_category(plan)"),
    ]
    assert result.rejects.drop("__row", "__reason").equals(frame[[1, 2, 5]])
    report = json.loads(json.dumps(result.report))
    assert report["rows_rejected"] == 3 and report["counts"] == {
        "out_of_range": 1,
        "unseen_category": 3,
    }


def test_warn_keeps_all_rows_and_examples_are_capped(schema: DatasetSchema) -> None:
    frame = pl.concat([_reference()] * 4).with_columns(
        pl.lit("gold").alias("plan"), pl.int_range(24).cast(pl.String).alias("id")
    )
    result = validate_frame(frame, schema, WARN)
    assert result.frame.height == 24 and result.rejects.height == 0
    assert len(result.violations[0].examples) == 5


def test_disabled_validation_passes_through(schema: DatasetSchema) -> None:
    frame = _reference().drop("age")
    result = validate_frame(frame, schema, ValidateConfig(enabled=False))
    assert result.frame is frame and result.report == {"enabled": False, "rows": 6}


def test_dates_and_bools_read_from_text() -> None:
    schema = DatasetSchema(
        columns=[
            ColumnSchema(name="d", dtype="date"),
            ColumnSchema(name="t", dtype="datetime"),
            ColumnSchema(name="b", dtype="bool"),
        ]
    )
    frame = pl.DataFrame(
        {"d": ["2024-01-02", "bad"], "t": ["2024-01-02 03:04:05", "2024-01-02"], "b": ["Yes", "0"]}
    )
    result = validate_frame(frame, schema, WARN)
    assert _kinds(result) == {("type_mismatch", "d"): 1}
    assert result.frame.schema["d"] == pl.Date and result.frame["b"].to_list() == [True, False]
    assert str(result.frame["t"][1]) == "2024-01-02 00:00:00"


def test_churn_drifted_copy(churn_csv) -> None:
    churn = pl.read_csv(churn_csv)
    schema = infer_schema(churn, target="churn", id_column=None, config=FAIL)
    assert validate_frame(churn, schema, FAIL).passed
    row = pl.int_range(pl.len())
    drifted = churn.with_columns(
        pl.when(row.is_in([3, 50, 700]))
        .then(pl.lit("Weekly"))
        .otherwise(pl.col("contract"))
        .alias("contract"),
        pl.when(row == 42)
        .then(pl.lit(250.0))
        .otherwise(pl.col("monthly_charges"))
        .alias("monthly_charges"),
    )
    with pytest.raises(SchemaError, match="2 violations in 7043 rows"):
        validate_frame(drifted, schema, FAIL)
    result = validate_frame(drifted, schema, DROP)
    assert _kinds(result) == {
        ("unseen_category", "contract"): 3,
        ("out_of_range", "monthly_charges"): 1,
    }
    assert result.rejects["__row"].to_list() == [3, 42, 50, 700]
    assert result.frame.height == 7039


def test_three_million_rows_validate_quickly() -> None:
    n = 3_000_000
    frame = pl.select(
        pl.int_range(n).alias("id"),
        (pl.int_range(n) % 1000).cast(pl.Float64).alias("x"),
        (pl.int_range(n) % 7).cast(pl.String).alias("c"),
        pl.when(pl.int_range(n) % 100 == 0).then(None).otherwise(pl.int_range(n) % 50).alias("k"),
    )
    schema = infer_schema(frame.head(100_000), target=None, id_column="id", config=WARN)
    start = time.perf_counter()
    result = validate_frame(frame, schema, DROP)
    elapsed = time.perf_counter() - start
    assert result.frame.height == n and not result.violations
    assert elapsed < 15, f"validating 3M rows took {elapsed:.1f}s"
