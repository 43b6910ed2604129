"""Data quality against the signature: nulls, schema violations, unseen categories, ranges."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from conveyor.bundle import InputField, OutputField, Signature
from conveyor.monitor._quality import data_quality, typed_inputs


def signature(*fields: InputField) -> Signature:
    return Signature(
        task="binary", target="y", inputs=list(fields),
        outputs=[OutputField(name="label", type="string")], classes=["No", "Yes"],
    )  # fmt: skip


TENURE = InputField(name="tenure", type="integer", kind="numeric", minimum=0, maximum=72)
CONTRACT = InputField(
    name="contract", type="string", kind="categorical", nullable=True,
    categories=["Month-to-month", "One year", "Two year"],
)  # fmt: skip


def test_clean_inputs_have_no_findings() -> None:
    frame = pl.DataFrame({"tenure": [1, 5, 72], "contract": ["One year", None, "Two year"]})
    quality = data_quality(frame, signature(TENURE, CONTRACT))
    assert quality["rows"] == 3
    assert quality["schema_violations"] == 0
    assert quality["null_rate"] == pytest.approx(1 / 6)
    assert quality["unseen_categories"] == 0.0 and quality["out_of_range"] == 0.0
    assert quality["fields"]["contract"]["violations"] == {"absent": 0, "null": 0, "type": 0}


def test_every_kind_of_finding_is_counted_where_it_happened() -> None:
    frame = pl.DataFrame(
        {
            "tenure": ["3", "abc", None, "100", "-1"],
            "contract": ["One year", "Weekly", "Weekly", "Daily", None],
        }
    )
    quality = data_quality(frame, signature(TENURE, CONTRACT))
    tenure, contract = quality["fields"]["tenure"], quality["fields"]["contract"]
    # 'abc' is not a number, None is not allowed (tenure is not nullable).
    assert tenure["violations"] == {"absent": 0, "null": 1, "type": 1}
    assert tenure["type_examples"] == ["abc"]
    assert tenure["out_of_range"] == 2 and tenure["out_of_range_rate"] == pytest.approx(2 / 3)
    assert contract["unseen"] == 3 and contract["unseen_examples"] == ["Weekly", "Daily"]
    assert quality["schema_violations"] == 2
    assert quality["unseen_categories"] == pytest.approx(3 / 4)
    assert quality["out_of_range"] == pytest.approx(2 / 3)
    assert quality["null_rate"] == pytest.approx(2 / 10)


def test_a_field_absent_from_the_log_is_all_null_and_a_violation_per_row() -> None:
    quality = data_quality(pl.DataFrame({"tenure": [1, 2]}), signature(TENURE, CONTRACT))
    contract = quality["fields"]["contract"]
    assert contract["logged"] is False
    assert contract["violations"]["absent"] == 2
    assert quality["schema_violations"] == 2 and quality["null_rate"] == 0.5


def test_boolean_categories_use_the_reference_keys() -> None:
    flag = InputField(name="flag", type="boolean", kind="categorical", categories=[True, False])
    frame = pl.DataFrame({"flag": [True, False, True]})
    quality = data_quality(frame, signature(flag))
    assert quality["fields"]["flag"]["unseen"] == 0
    assert typed_inputs(frame, signature(flag))["flag"].to_list() == ["True", "False", "True"]


def test_datetime_ranges_are_checked() -> None:
    when = InputField(name="when", type="datetime", kind="datetime",
                      minimum="2026-01-01T00:00:00", maximum="2026-06-30T00:00:00")  # fmt: skip
    frame = pl.DataFrame({"when": ["2026-03-01T10:00:00", "2027-01-01T00:00:00", "soon"]})
    field = data_quality(frame, signature(when))["fields"]["when"]
    assert field["out_of_range"] == 1
    assert field["violations"]["type"] == 1
    typed = typed_inputs(frame, signature(when))["when"]
    assert typed[0] == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_no_rows_gives_no_rates_instead_of_dividing_by_zero() -> None:
    empty = pl.DataFrame(schema={"tenure": pl.Int64, "contract": pl.String})
    quality = data_quality(empty, signature(TENURE, CONTRACT))
    assert quality["null_rate"] is None and quality["unseen_categories"] is None
    assert quality["out_of_range"] is None


def test_typed_inputs_casts_to_the_signature_and_fills_absent_fields() -> None:
    frame = pl.DataFrame({"tenure": ["3", "x"]})
    typed = typed_inputs(frame, signature(TENURE, CONTRACT))
    assert typed.schema == pl.Schema({"tenure": pl.Float64, "contract": pl.String})
    assert typed["tenure"].to_list() == [3.0, None]
    assert typed["contract"].to_list() == [None, None]
