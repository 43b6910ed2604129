"""Labelled feedback as training rows: the join with the prediction log, and the alignment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from conveyor.data.feedback_rows import ACTUAL, append_feedback_rows, labelled_feedback_rows
from conveyor.stores.feedback import record_feedback
from conveyor.stores.metadata import MetadataStore
from conveyor.stores.prediction_log import PredictionLog

T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    with MetadataStore(f"sqlite:///{tmp_path}/conveyor.db") as opened:
        yield opened


def log_rows(root: Path | str, rows: list[dict]) -> None:
    with PredictionLog(root, flush_interval_s=60) as log:
        log.append(rows)
        log.flush(timeout=10)


def row(pid: str, version: int = 1, status: str = "ok", **inputs: object) -> dict:
    return {"prediction_id": pid, "model": "churn", "version": version, "ts": T0,
            "inputs": inputs, "prediction": "No", "status": status}  # fmt: skip


def test_logged_inputs_join_their_feedback(store: MetadataStore, tmp_path: Path) -> None:
    root = tmp_path / "log"
    log_rows(root, [row("p1", tenure=3, contract="Monthly"), row("p2", tenure=40, contract="Year"),
                    row("p3", tenure=1, contract="Monthly")])  # fmt: skip
    # a second version logged different fields; a shadow answer repeats a request
    log_rows(root, [row("p4", version=2, tenure=7, contract="Year", version_=1),
                    row("p1-shadow", version=2, status="shadow", tenure=3, contract="Monthly")])  # fmt: skip
    for pid, actual in (("p1", "Yes"), ("p2", "No"), ("p4", "No"), ("p1-shadow", "Yes"),
                        ("unknown", "Yes")):  # fmt: skip
        record_feedback(store, prediction_id=pid, actual=actual, model="churn")
    rows = labelled_feedback_rows(store, root, model="churn").sort("prediction_id")
    assert rows["prediction_id"].to_list() == ["p1", "p2", "p4"]  # p3 unlabelled, shadow skipped
    assert rows[ACTUAL].to_list() == ["Yes", "No", "No"]
    assert rows["tenure"].to_list() == [3, 40, 7]
    # the field 'version_' of v2 and the fixed columns: only inputs are left
    assert set(rows.columns) == {"prediction_id", ACTUAL, "tenure", "contract", "version_"}


def test_an_input_named_like_a_log_column_gets_its_name_back(
    store: MetadataStore, tmp_path: Path
) -> None:
    logged = row("p1", tenure=3)
    logged["inputs"]["status"] = 2
    log_rows(tmp_path / "log", [logged])
    record_feedback(store, prediction_id="p1", actual="Yes", model="churn")
    rows = labelled_feedback_rows(store, tmp_path / "log", model="churn")
    assert rows["status"].to_list() == [2]  # logged as input_status, the field is 'status'


def test_nothing_to_join(store: MetadataStore, tmp_path: Path) -> None:
    assert labelled_feedback_rows(store, tmp_path / "none", model="churn").height == 0
    record_feedback(store, prediction_id="p1", actual="Yes", model="churn")
    assert labelled_feedback_rows(store, tmp_path / "none", model="churn").height == 0


SOURCES = pl.DataFrame(
    {
        "customer_id": ["c1", "c2"],
        "tenure": [12, 30],
        "monthly": [50.0, 80.0],
        "contract": ["Monthly", "Year"],
        "churn": ["No", "Yes"],
    }
)


def test_rows_take_the_sources_columns_and_types() -> None:
    rows = pl.DataFrame(
        {
            "prediction_id": ["p1", "p2"],
            ACTUAL: ["Yes", "No"],
            "tenure": ["7", "forty"],  # text in the log, integers in the sources
            "contract": ["Monthly", None],
            "unused": [1, 2],
        }
    )
    out, report = append_feedback_rows(SOURCES, rows, target="churn", id_column="customer_id")
    assert out.schema == SOURCES.schema
    assert out.height == 4
    tail = out.tail(2)
    assert tail["churn"].to_list() == ["Yes", "No"]
    assert tail["customer_id"].to_list() == ["p1", "p2"]  # a text id takes the prediction id
    assert tail["tenure"].to_list() == [7, None]
    assert tail["monthly"].to_list() == [None, None]
    assert report.added == 2
    assert report.missing_columns == ["monthly"]
    assert report.uncastable == {"tenure": 1}
    notes = report.notes()
    assert notes[0] == "include_feedback: 2 labelled prediction(s) added as rows"
    assert "monthly" in notes[1] and "'tenure'" in notes[2]


def test_boolean_and_numeric_targets() -> None:
    frame = pl.DataFrame({"x": [1.0], "y": [True]})
    rows = pl.DataFrame({"prediction_id": ["p"], ACTUAL: [False], "x": [2.0]})
    out, _ = append_feedback_rows(frame, rows, target="y", id_column=None)
    assert out["y"].to_list() == [True, False]
    numeric = pl.DataFrame({"x": [1.0], "y": [3.5]})
    rows = pl.DataFrame({"prediction_id": ["p"], ACTUAL: ["4.25"], "x": [2.0]})
    out, _ = append_feedback_rows(numeric, rows, target="y", id_column=None)
    assert out["y"].to_list() == [3.5, 4.25]


def test_no_rows_changes_nothing() -> None:
    empty = pl.DataFrame(schema={"prediction_id": pl.String, ACTUAL: pl.String})
    out, report = append_feedback_rows(SOURCES, empty, target="churn", id_column=None)
    assert out is SOURCES and report.added == 0


def test_a_log_in_an_fsspec_filesystem(store: MetadataStore) -> None:
    import uuid

    url = f"memory://{uuid.uuid4().hex}/predictions"  # read the way an S3 log is
    log_rows(url, [row("p1", tenure=3, contract="Monthly"), row("p2", tenure=9)])
    record_feedback(store, prediction_id="p2", actual="Yes", model="churn")
    rows = labelled_feedback_rows(store, url, model="churn")
    assert rows["prediction_id"].to_list() == ["p2"] and rows["tenure"].to_list() == [9]
