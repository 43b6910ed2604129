"""The prediction log: background batching, segments per version and hour, lookups, scans."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.errors import DataError, StoreError
from conveyor.stores.prediction_log import LOG_FORMAT_KEY, PredictionLog, default_log_root

T0 = datetime(2026, 11, 28, 10, 15, tzinfo=UTC)


def row(pid: str, *, model: str = "churn", version: int = 1, ts: datetime = T0, **extra: Any):
    base = {
        "prediction_id": pid,
        "model": model,
        "version": version,
        "ts": ts,
        "inputs": {"age": 41, "plan": "pro"},
        "prediction": "yes",
        "probabilities": {"no": 0.2, "yes": 0.8},
        "latency_ms": 1.5,
        "fallback": False,
        "status": "ok",
    }
    return {**base, **extra}


@pytest.fixture
def log(tmp_path: Path):
    # A long interval: nothing is written unless the test flushes or fills a batch.
    log = PredictionLog(tmp_path / "log", flush_interval_s=60)
    yield log
    log.close()


def segments(root: Path) -> list[Path]:
    return sorted(root.rglob("part-*.parquet"))


def test_default_log_root_is_under_dot_conveyor(tmp_path: Path) -> None:
    assert default_log_root(tmp_path) == tmp_path / ".conveyor" / "predictions"


def test_append_does_not_write_until_flush_then_one_segment_per_version_and_hour(
    log: PredictionLog,
) -> None:
    later = T0 + timedelta(hours=1)
    log.append([row("a"), row("b"), row("c", version=2), row("d", ts=later)])
    assert segments(log.root) == []
    log.flush(timeout=10)
    rel = [str(p.parent.relative_to(log.root)) for p in segments(log.root)]
    assert sorted(rel) == [
        "churn/v1/2026-11-28/10",
        "churn/v1/2026-11-28/11",
        "churn/v2/2026-11-28/10",
    ]
    assert log.scan().collect().height == 4


def test_segments_carry_format_metadata_and_queryable_columns(log: PredictionLog) -> None:
    log.append([row("a", inputs={"age": 41, "plan": "pro", "model": "x"})])
    log.flush(timeout=10)
    (path,) = segments(log.root)
    assert pq.read_metadata(path).metadata[LOG_FORMAT_KEY.encode()] == b"1"
    frame = pl.read_parquet(path)
    assert frame.columns == [
        "prediction_id", "model", "version", "ts", "age", "plan", "input_model",
        "prediction", "probabilities", "latency_ms", "fallback", "status",
    ]  # fmt: skip
    got = frame.row(0, named=True)
    assert got["age"] == 41 and got["plan"] == "pro" and got["input_model"] == "x"
    assert got["model"] == "churn" and got["ts"] == T0
    assert json.loads(got["probabilities"]) == {"no": 0.2, "yes": 0.8}
    assert frame.schema["ts"] == pl.Datetime("us", "UTC")


def test_regression_values_are_floats_and_labels_text(log: PredictionLog) -> None:
    log.append([row("a", model="price", prediction=12.5, probabilities=None)])
    log.append([row("b", prediction=1)])
    log.flush(timeout=10)
    assert log.scan(model="price").collect()["prediction"].dtype == pl.Float64
    assert log.scan(model="churn").collect()["prediction"].to_list() == ["1"]


def test_batch_size_triggers_a_write_without_flush(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, batch_size=3, flush_interval_s=60) as log:
        log.append([row(f"p{i}") for i in range(3)])
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not segments(tmp_path) and datetime.now(UTC) < deadline:
            threading.Event().wait(0.01)
        assert len(segments(tmp_path)) == 1


def test_interval_triggers_a_write_without_flush(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, flush_interval_s=0.05) as log:
        log.append([row("a")])
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not segments(tmp_path) and datetime.now(UTC) < deadline:
            threading.Event().wait(0.01)
        assert len(segments(tmp_path)) == 1


def test_many_threads_append_and_close_drains_everything(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, batch_size=50, flush_interval_s=0.02)

    def worker(n: int) -> None:
        for i in range(20):
            log.append([row(f"t{n}-{i}-{j}", version=1 + (i % 2)) for j in range(5)])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    log.close()  # idempotent
    frame = log.scan().collect()
    assert frame.height == 8 * 20 * 5
    assert frame["prediction_id"].n_unique() == frame.height
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(StoreError, match="closed"):
        log.append([row("late")])


def test_contains_buffered_flushed_on_disk_and_unknown(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, flush_interval_s=60) as log:
        log.append([row("queued")])
        assert log.contains("queued") and not log.contains("nope")
        log.flush(timeout=10)
        assert log.contains("queued")
    # A fresh log (new process) only finds the id by scanning segments.
    with PredictionLog(tmp_path, flush_interval_s=60, recent_ids=0) as again:
        assert again.contains("queued") and not again.contains("nope")
        assert again.lookup(["queued", "nope"]) == {"queued": "churn"}


def test_recent_ids_are_bounded(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, flush_interval_s=60, recent_ids=2) as log:
        log.append([row(f"p{i}") for i in range(5)])
        log.flush(timeout=10)
        assert len(log._recent) == 2
        assert all(log.contains(f"p{i}") for i in range(5))  # older ones via the segment


def test_scan_filters_by_model_version_and_since(log: PredictionLog) -> None:
    log.append(
        [
            row("a"),
            row("b", version=2),
            row("c", model="price", prediction=1.0),
            row("d", ts=T0 + timedelta(hours=2)),
            row("e", ts=T0 + timedelta(hours=2, minutes=30)),
        ]
    )
    log.flush(timeout=10)
    ids = lambda lf: sorted(lf.collect()["prediction_id"].to_list())  # noqa: E731
    assert ids(log.scan(model="churn")) == ["a", "b", "d", "e"]
    assert ids(log.scan(model="churn", version=2)) == ["b"]
    assert ids(log.scan(since=T0 + timedelta(hours=2, minutes=10))) == ["e"]
    assert ids(log.scan(model="missing")) == []
    assert ids(log.scan(model="../escape")) == []
    assert log.scan(model="missing").collect().columns[:4] == [
        "prediction_id",
        "model",
        "version",
        "ts",
    ]
    with pytest.raises(DataError, match="timezone-aware"):
        log.scan(since=datetime(2026, 1, 1))


def test_segments_with_different_inputs_scan_together(log: PredictionLog) -> None:
    log.append([row("a", inputs={"age": 1})])
    log.append([row("b", version=2, inputs={"age": 2.5, "city": "Oslo"})])
    log.flush(timeout=10)
    frame = log.scan().sort("prediction_id").collect()
    assert frame["city"].to_list() == [None, "Oslo"]
    assert frame["age"].to_list() == [1.0, 2.5]


def test_mixed_and_nested_input_values_are_kept_as_text(log: PredictionLog) -> None:
    log.append([row("a", inputs={"x": 1, "tags": ["a"]}), row("b", inputs={"x": "two"})])
    log.flush(timeout=10)
    frame = log.scan().sort("prediction_id").collect()
    assert frame["x"].to_list() == ["1", "two"]
    assert frame["tags"].to_list() == ['["a"]', None]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"prediction_id": 5}, "row 0: 'prediction_id' must be str, got int"),
        ({"version": "1"}, "'version' must be int, got str"),
        ({"version": True}, "'version' must be int, got bool"),
        ({"ts": datetime(2026, 1, 1)}, "'ts' is naive"),
        ({"model": "../etc"}, "model name '../etc' is not a valid name"),
        ({"inputs": [1, 2]}, "'inputs' must be a dict, got list"),
    ],
)
def test_malformed_rows_are_refused_at_append(log: PredictionLog, bad: dict, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(".", r"\.")):
        log.append([row("ok") | bad])
    assert not log.contains("ok")  # nothing from a refused call is queued


def test_no_partial_segment_is_ever_visible(tmp_path: Path) -> None:
    seen_bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for path in tmp_path.rglob("part-*.parquet"):
                try:
                    pq.read_metadata(path)
                except Exception as exc:  # a torn file would fail here
                    seen_bad.append(f"{path}: {exc}")

    t = threading.Thread(target=reader)
    t.start()
    with PredictionLog(tmp_path, batch_size=20, flush_interval_s=0.01) as log:
        for i in range(30):
            log.append([row(f"p{i}-{j}") for j in range(20)])
    stop.set()
    t.join()
    assert seen_bad == []
    with PredictionLog(tmp_path) as again:
        assert again.scan().collect().height == 600


def test_write_failure_keeps_rows_and_reports(tmp_path: Path) -> None:
    blocker = tmp_path / "log"
    blocker.write_text("not a directory")
    log = PredictionLog(blocker, flush_interval_s=60)
    log.append([row("a")])
    with pytest.raises(StoreError, match="writing failed"):
        log.flush(timeout=10)
    assert log.contains("a")  # still queued for a retry
    blocker.unlink()
    log.flush(timeout=10)  # the retry succeeds
    assert log.scan().collect()["prediction_id"].to_list() == ["a"]
    log.close()


def test_close_reports_rows_it_could_not_write(tmp_path: Path) -> None:
    blocker = tmp_path / "log"
    blocker.write_text("x")
    log = PredictionLog(blocker, flush_interval_s=60)
    log.append([row("a"), row("b")])
    with pytest.raises(StoreError, match="2 rows could not be written"):
        log.close()


def test_unsupported_format_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="format_version 2 is not supported"):
        PredictionLog(tmp_path, format_version=2)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(
            st.integers(1, 3),
            st.integers(0, 47),
            st.fixed_dictionaries({"a": st.integers(-1000, 1000), "b": st.text(max_size=5)}),
            st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_what_goes_in_comes_out(tmp_path_factory: pytest.TempPathFactory, data: list) -> None:
    root = tmp_path_factory.mktemp("prop")
    rows = [
        row(
            f"p{i}",
            version=v,
            ts=T0 + timedelta(hours=h, microseconds=i),
            inputs=inp,
            prediction=pred,
        )
        for i, (v, h, inp, pred) in enumerate(data)
    ]
    with PredictionLog(root, batch_size=7, flush_interval_s=60) as log:
        for start in range(0, len(rows), 4):
            log.append(rows[start : start + 4])
    with PredictionLog(root) as again:
        frame = again.scan().collect()
    got = {r["prediction_id"]: r for r in frame.iter_rows(named=True)}
    assert len(got) == len(rows)
    all_float = all(isinstance(r["prediction"], float) for r in rows)
    for r in rows:
        out = got[r["prediction_id"]]
        assert (out["version"], out["ts"], out["a"], out["b"]) == (
            r["version"], r["ts"], r["inputs"]["a"], r["inputs"]["b"],
        )  # fmt: skip
        if all_float:
            assert out["prediction"] == r["prediction"]
        else:
            expected = r["prediction"]
            assert out["prediction"] == expected or float(out["prediction"]) == expected


def test_a_large_batch_is_written_whole_across_slices(tmp_path: Path) -> None:

    log = PredictionLog(tmp_path / "log", batch_size=5000, flush_interval_s=30)
    now = datetime.now(UTC)
    rows = [
        {"prediction_id": f"p{i}", "model": "m", "version": 1, "ts": now,
         "inputs": {"x": i, "c": "a" if i % 2 else None}, "prediction": "yes",
         "probabilities": {"yes": 0.7, "no": 0.3}, "latency_ms": 0.5}
        for i in range(1000)
    ]  # fmt: skip
    log.append(rows)
    log.flush(timeout=30)
    frame = log.scan(model="m").collect().sort("x")
    log.close()
    assert frame.height == 1000 and frame["x"].to_list() == list(range(1000))
    assert frame["c"].null_count() == 500
