"""Feedback: idempotent upserts on SQLite and PostgreSQL, bulk import, bad files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from conveyor.errors import DataError
from conveyor.stores import feedback as fb
from conveyor.stores._feedback_tables import feedback as feedback_table
from conveyor.stores.feedback import ImportResult, feedback_frame, import_feedback, record_feedback
from conveyor.stores.metadata import MetadataStore
from conveyor.stores.prediction_log import PredictionLog

T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/conveyor.db"
    else:
        url = request.getfixturevalue("postgres_url")
    with MetadataStore(url) as store:
        yield store


@pytest.fixture
def log(tmp_path: Path) -> Iterator[PredictionLog]:
    with PredictionLog(tmp_path / "log", flush_interval_s=60) as log:
        log.append(
            [
                {"prediction_id": f"p{i}", "model": "churn", "version": 1, "ts": T0, "inputs": {}}
                for i in range(5)
            ]
        )
        log.flush(timeout=10)
        yield log


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------- schema


def test_migration_creates_exactly_the_feedback_table(store: MetadataStore) -> None:
    from conveyor.testing.schema import schema_diffs

    assert schema_diffs(store.engine, feedback_table.metadata, {"feedback"}) == []


# ---------------------------------------------------------------- record_feedback


def test_record_is_idempotent_and_updates_a_changed_actual(store: MetadataStore) -> None:
    assert record_feedback(store, prediction_id="p1", actual="yes", model="churn") is True
    assert record_feedback(store, prediction_id="p1", actual="yes", model="churn") is False
    assert record_feedback(store, prediction_id="p1", actual="no") is True
    frame = feedback_frame(store)
    assert frame.select("prediction_id", "model", "actual", "source").rows() == [
        ("p1", "churn", "no", "api")  # the model is kept when an update does not name one
    ]
    assert frame["received_at"].dtype == pl.Datetime("us", "UTC")


@pytest.mark.parametrize("actual", ["yes", 1, 0, 2.5, True, False, ""])
def test_actual_types_round_trip(store: MetadataStore, actual: Any) -> None:
    record_feedback(store, prediction_id="p", actual=actual)
    (got,) = feedback_frame(store)["actual"].to_list()
    assert got == actual and type(got) is type(actual)
    assert record_feedback(store, prediction_id="p", actual=actual) is False


def test_true_and_one_are_different_labels(store: MetadataStore) -> None:
    record_feedback(store, prediction_id="p", actual=1)
    assert record_feedback(store, prediction_id="p", actual=True) is True


@pytest.mark.parametrize(
    ("actual", "message"),
    [
        ({"label": 1}, "expected a label or value .* got dict"),
        ([1], "expected a label or value .* got list"),
        (None, "expected a label or value .* got NoneType"),
        (float("nan"), "nan is not a usable value"),
    ],
)
def test_non_scalar_actuals_are_data_errors(
    store: MetadataStore, actual: Any, message: str
) -> None:
    with pytest.raises(DataError, match=rf"feedback for 'p1': actual: {message}"):
        record_feedback(store, prediction_id="p1", actual=actual)
    assert feedback_frame(store).height == 0


def test_empty_prediction_id_is_a_data_error(store: MetadataStore) -> None:
    with pytest.raises(DataError, match="prediction_id must be a non-empty string"):
        record_feedback(store, prediction_id="", actual=1)


def test_concurrent_records_of_one_id_never_fail(store: MetadataStore) -> None:
    results: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(record_feedback(store, prediction_id="same", actual="yes"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False] * 5 + [True]
    assert feedback_frame(store).height == 1


def test_feedback_frame_filters_by_model_and_is_typed_when_empty(store: MetadataStore) -> None:
    record_feedback(store, prediction_id="a", actual=1, model="churn")
    record_feedback(store, prediction_id="b", actual=2.0, model="price")
    assert feedback_frame(store, model="price")["prediction_id"].to_list() == ["b"]
    empty = feedback_frame(store, model="none")
    assert empty.height == 0 and empty.columns == [
        "prediction_id", "model", "actual", "received_at", "source",
    ]  # fmt: skip


def test_mixed_actual_types_come_back_as_text(store: MetadataStore) -> None:
    record_feedback(store, prediction_id="a", actual=1)
    record_feedback(store, prediction_id="b", actual="x")
    assert sorted(feedback_frame(store)["actual"].to_list()) == ["1", "x"]


# ---------------------------------------------------------------- import_feedback


def test_import_counts_new_updated_unchanged_and_takes_model_from_log(
    store: MetadataStore, log: PredictionLog, tmp_path: Path
) -> None:
    record_feedback(store, prediction_id="p0", actual=0)
    record_feedback(store, prediction_id="p1", actual=0)
    path = write_csv(tmp_path / "labels.csv", "prediction_id,actual\np0,0\np1,1\np2,1\np2,1\n")
    result = import_feedback(store, log, path)
    assert result == ImportResult(imported=1, updated=1, unchanged=1, unknown_ids=[], rows=4)
    frame = feedback_frame(store).sort("prediction_id")
    assert frame.select("prediction_id", "actual").rows() == [("p0", 0), ("p1", 1), ("p2", 1)]
    assert frame.filter(pl.col("prediction_id") == "p2")["model"].to_list() == ["churn"]
    assert frame.filter(pl.col("prediction_id") == "p2")["source"].to_list() == ["import"]
    again = import_feedback(store, log, path)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 3)


def test_import_reports_unknown_ids_and_does_not_store_them(
    store: MetadataStore, log: PredictionLog, tmp_path: Path
) -> None:
    lines = "".join(f"x{i},1\n" for i in range(25))
    path = write_csv(tmp_path / "labels.csv", f"id,label\np3,1\n{lines}")
    result = import_feedback(store, log, path, id_column="id", actual_column="label")
    assert (result.imported, result.unknown, result.rows) == (1, 25, 26)
    assert result.unknown_ids == [f"x{i}" for i in range(20)]
    assert feedback_frame(store)["prediction_id"].to_list() == ["p3"]


def test_import_without_a_log_stores_every_row_and_uses_a_model_column(
    store: MetadataStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "labels.csv", "prediction_id,actual,model\na,yes,churn\nb,no,\n")
    result = import_feedback(store, None, path)
    assert (result.imported, result.unknown) == (2, 0)
    assert feedback_frame(store).sort("prediction_id")["model"].to_list() == ["churn", None]


def test_import_in_batches(
    store: MetadataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fb, "_BATCH", 3)
    calls: list[int] = []
    original = store.transaction
    monkeypatch.setattr(store, "transaction", lambda fn: calls.append(1) or original(fn))
    path = write_csv(
        tmp_path / "l.csv", "prediction_id,actual\n" + "".join(f"i{i},{i}\n" for i in range(7))
    )
    assert import_feedback(store, None, path).imported == 7
    assert len(calls) == 3
    assert feedback_frame(store).height == 7


def test_import_reads_parquet_and_jsonl(store: MetadataStore, tmp_path: Path) -> None:
    pl.DataFrame({"prediction_id": ["a"], "actual": [1.5]}).write_parquet(tmp_path / "l.parquet")
    (tmp_path / "l.jsonl").write_text('{"prediction_id": "b", "actual": "yes"}\n')
    assert import_feedback(store, None, tmp_path / "l.parquet").imported == 1
    assert import_feedback(store, None, tmp_path / "l.jsonl").imported == 1
    assert sorted(feedback_frame(store).select("prediction_id", "actual").rows()) == [
        ("a", "1.5"), ("b", "yes"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "l.csv",
            "id,actual\na,1\n",
            r"no column 'prediction_id' \(the id column\); columns are id, actual",
        ),
        ("l.csv", "prediction_id,label\na,1\n", r"no column 'actual' \(the actual column\)"),
        ("l.csv", "", "the file is empty"),
        ("l.csv", "prediction_id,actual\n", r"no feedback rows \(columns: prediction_id, actual\)"),
        ("l.csv", "prediction_id,actual\na,1\nb,\n", "row 2, column 'actual': missing value"),
        (
            "l.csv",
            "prediction_id,actual\na,1\n,1\n",
            "row 2, column 'prediction_id': missing prediction id",
        ),
        (
            "l.csv",
            "prediction_id,actual\na,1\nb,2\na,3\n",
            "rows 1 and 3: prediction id 'a' has two different values",
        ),
        (
            "l.csv",
            "prediction_id,actual\na,1.5\nb,NaN\n",
            r"row 2, column 'actual': nan is not a usable value",
        ),
        (
            "l.jsonl",
            '{"prediction_id": "a", "actual": {"x": 1}}\n',
            "column 'actual' has type Struct",
        ),
        ("l.txt", "a,1\n", r"cannot import feedback from a \.txt file"),
        ("l.parquet", "not parquet", "cannot read feedback"),
    ],
)
def test_bad_files_are_precise_data_errors(
    store: MetadataStore, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = write_csv(tmp_path / name, content)
    with pytest.raises(DataError, match=message):
        import_feedback(store, None, path)
    assert feedback_frame(store).height == 0


def test_missing_file_is_a_data_error(store: MetadataStore, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        import_feedback(store, None, tmp_path / "nope.csv")


def test_feedback_rows_are_parameterised(store: MetadataStore) -> None:
    nasty = "x'); DROP TABLE feedback; --"
    record_feedback(store, prediction_id=nasty, actual=nasty)
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(feedback_table)).scalar() == 1
