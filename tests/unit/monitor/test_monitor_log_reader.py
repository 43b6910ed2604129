"""Reading a window of the prediction log: pruning by hour and version, types, shadow rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from conveyor.monitor import _log_reader as logs
from conveyor.stores.prediction_log import LogLocation, PredictionLog

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def row(pid: str, ts: datetime, *, version: int = 1, status: str = "ok", **inputs: object) -> dict:
    return {"prediction_id": pid, "model": "churn", "version": version, "ts": ts,
            "inputs": inputs, "prediction": "No", "status": status, "latency_ms": 2.0}  # fmt: skip


def write(root: Path | str, rows: list[dict]) -> None:
    with PredictionLog(root) as log:
        log.append(rows)


def test_window_bounds_are_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    write(tmp_path, [row(f"p{h}", T0 + timedelta(hours=h), tenure=h) for h in range(6)])
    frame = logs.read_window(
        tmp_path, "churn", columns=["prediction_id", "ts", "tenure"],
        start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=4),
    )  # fmt: skip
    assert frame["prediction_id"].to_list() == ["p1", "p2", "p3"]
    assert frame.columns == ["prediction_id", "ts", "tenure"]


def test_hours_outside_the_window_are_not_opened(tmp_path: Path) -> None:
    write(tmp_path, [row(f"p{h}", T0 + timedelta(hours=h)) for h in range(5)])
    files = logs.log_files(
        tmp_path, "churn", start=T0 + timedelta(hours=1, minutes=30), end=T0 + timedelta(hours=3)
    )
    # hours 11 (overlaps the start) and 12; hour 13 starts at the (exclusive) end.
    assert [f.rsplit("/", 2)[-2] for f in files] == ["11", "12"]


def test_versions_prune_directories(tmp_path: Path) -> None:
    write(tmp_path, [row("a", T0, version=1), row("b", T0, version=2), row("c", T0, version=3)])
    frame = logs.read_window(
        tmp_path, "churn", columns=["prediction_id", "version"], versions=[2, 3]
    )
    assert sorted(frame["prediction_id"].to_list()) == ["b", "c"]
    assert logs.log_files(tmp_path, "other") == []


def test_segments_with_different_types_and_columns_are_combined(tmp_path: Path) -> None:
    write(tmp_path, [row("a", T0, tenure=3, contract="One year")])
    write(tmp_path, [row("b", T0 + timedelta(hours=1), tenure="abc")])  # a text value
    write(tmp_path, [row("c", T0 + timedelta(hours=2), tenure=4.5, extra=1)])
    frame = logs.read_window(
        tmp_path, "churn", columns=["prediction_id", "tenure", "contract", "absent"]
    ).sort("prediction_id")
    assert frame.schema["tenure"] == pl.String
    assert frame["tenure"].to_list() == ["3", "abc", "4.5"]
    assert frame["contract"].to_list() == ["One year", None, None]
    assert frame["absent"].to_list() == [None, None, None]


def test_numeric_types_widen_without_becoming_text(tmp_path: Path) -> None:
    write(tmp_path, [row("a", T0, tenure=3)])
    write(tmp_path, [row("b", T0 + timedelta(hours=1), tenure=4.5)])
    frame = logs.read_window(tmp_path, "churn", columns=["prediction_id", "tenure"])
    assert frame.schema["tenure"] == pl.Float64
    assert sorted(frame["tenure"].to_list()) == [3.0, 4.5]


def test_an_empty_log_gives_an_empty_frame_with_the_columns(tmp_path: Path) -> None:
    frame = logs.read_window(tmp_path / "none", "churn", columns=["prediction_id", "ts", "x"])
    assert frame.height == 0 and frame.columns == ["prediction_id", "ts", "x"]
    assert logs.log_span(tmp_path / "none", "churn") is None


def test_count_rows_skips_shadow_rows(tmp_path: Path) -> None:
    write(tmp_path, [row("a", T0), row("a-shadow", T0, version=2, status="shadow"),
                     row("b", T0 + timedelta(hours=3))])  # fmt: skip
    assert logs.count_rows(tmp_path, "churn", start=T0, end=T0 + timedelta(hours=1)) == 1
    assert logs.count_rows(tmp_path, "churn", start=None, end=None) == 2


def test_log_span_reads_directory_names(tmp_path: Path) -> None:
    write(tmp_path, [row("a", T0, version=2), row("b", T0 + timedelta(days=1, hours=2))])
    span = logs.log_span(tmp_path, "churn")
    assert span is not None
    assert (span.first_hour, span.last_hour) == (T0, T0 + timedelta(days=1, hours=2))
    assert span.versions == [1, 2]


@pytest.mark.parametrize("field", ["version", "ts", "status"])
def test_inputs_named_like_fixed_columns_are_prefixed(field: str) -> None:
    assert logs.log_column(field) == f"input_{field}"
    assert logs.log_column("tenure") == "tenure"


def test_an_input_named_like_a_fixed_column_is_judged_under_its_own_name(tmp_path: Path) -> None:
    """A field called ``status`` is logged as ``input_status``; drift and quality see ``status``."""
    from conveyor.bundle import InputField, OutputField, Signature, build_reference
    from conveyor.config._monitoring import MonitorConfig
    from conveyor.monitor._versions import VersionInfo
    from conveyor.monitor.monitoring import _window_figures

    train = pl.DataFrame({"status": ["gold", "silver"] * 50, "tenure": list(range(100))})
    signature = Signature(
        task="binary", target="y", classes=["No", "Yes"],
        inputs=[InputField(name="status", type="string", kind="categorical",
                           categories=["gold", "silver"]),
                InputField(name="tenure", type="integer", kind="numeric", minimum=0, maximum=99)],
        outputs=[OutputField(name="label", type="string")],
    )  # fmt: skip
    reference = build_reference(train, ["No"] * 100, numeric=["tenure"], categorical=["status"],
                                seed=0, task="binary")  # fmt: skip
    info = VersionInfo(1, T0, signature, reference, {})
    write(tmp_path, [row(f"p{i}", T0 + timedelta(minutes=i), status="ok", tenure=i % 100)
                     for i in range(50)])  # fmt: skip
    with PredictionLog(tmp_path) as log:  # the "status" input rides in the inputs dict
        log.append([{**row("q", T0, tenure=5), "inputs": {"status": "platinum", "tenure": 5}}])
    found = _window_figures(tmp_path, "churn", info, MonitorConfig(), T0, T0 + timedelta(days=1),
                            None, 1)  # fmt: skip
    assert found is not None
    frame, drift, quality, notes = found
    assert frame.height == 51 and set(frame["status"]) == {"ok"}
    assert drift is not None and {c.column for c in drift.columns} == {"status", "tenure"}
    assert quality["fields"]["status"]["unseen"] == 1
    assert quality["fields"]["status"]["unseen_examples"] == ["platinum"]
    assert notes == []


def test_a_log_on_an_fsspec_url_reads_the_same() -> None:
    root = f"memory://monitor-{uuid.uuid4().hex}/predictions"
    write(root, [row(f"p{h}", T0 + timedelta(hours=h), tenure=h) for h in range(4)])
    location = LogLocation(root)
    frame = logs.read_window(
        location, "churn", columns=["prediction_id", "tenure"], start=T0 + timedelta(hours=1)
    )
    assert sorted(frame["prediction_id"].to_list()) == ["p1", "p2", "p3"]
    assert logs.log_span(root, "churn").versions == [1]  # type: ignore[union-attr]
    assert logs.count_rows(root, "churn", start=None, end=T0 + timedelta(hours=2)) == 2
