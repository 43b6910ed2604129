"""Per-version live figures for the canary, read from a real prediction log and feedback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.automate import live_version_stats
from conveyor.stores.feedback import record_feedback
from conveyor.stores.metadata import MetadataStore
from conveyor.stores.prediction_log import PredictionLog

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def row(pid: str, version: int, ts: datetime, prediction: object, **kw: object) -> dict:
    return {"prediction_id": pid, "model": "churn", "version": version, "ts": ts,
            "inputs": {"tenure": 3}, "prediction": prediction, **kw}  # fmt: skip


@pytest.fixture(params=["directory", "memory"])
def log_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "directory":
        return str(tmp_path / "predictions")
    return f"memory://{uuid.uuid4().hex}/predictions"  # an fsspec filesystem, as S3 would be


def test_figures_of_one_version(log_root: str, store: MetadataStore) -> None:
    rows = []
    for i in range(40):
        rows.append(row(f"a{i}", 2, T0 + timedelta(minutes=i), "Yes" if i % 4 == 0 else "No",
                        latency_ms=float(i + 1), fallback=i % 10 == 0))  # fmt: skip
    # a shadow answer (of request a1): its id carries "-shadow", its feedback is a1's
    rows.append(row("a1-shadow", 2, T0 + timedelta(minutes=5), "No", status="shadow",
                    latency_ms=1.0))  # fmt: skip
    rows.append(row("e1", 2, T0 + timedelta(minutes=6), None, status="error", latency_ms=1.0))
    rows.append(row("old", 2, T0 - timedelta(hours=3), "Yes", latency_ms=500.0))  # before
    rows.append(row("late", 2, T0 + timedelta(hours=2), "Yes", latency_ms=500.0))  # after
    rows.append(row("other", 1, T0 + timedelta(minutes=1), "Yes", latency_ms=500.0))
    with PredictionLog(log_root, flush_interval_s=60) as log:
        log.append(rows)
        log.flush(timeout=20)
    # labels: 10 right, 5 wrong (and a1's counts for its shadow answer too: right)
    for i in range(15):
        truth = ("Yes" if i % 4 == 0 else "No") if i < 10 else ("No" if i % 4 == 0 else "Yes")
        record_feedback(store, prediction_id=f"a{i}", actual=truth, model="churn")

    stats = live_version_stats(log_root, store, "churn", 2, since=T0,
                               until=T0 + timedelta(hours=1), task="binary")  # fmt: skip
    assert stats.requests == 42  # 40 answers, one shadow, one error
    assert stats.error_rate == pytest.approx(1 / 42)
    assert stats.fallback_rate == pytest.approx(4 / 42)
    assert stats.failure_rate == pytest.approx(5 / 42)
    assert 38 <= stats.p99_ms <= 40
    assert stats.labels == pytest.approx({"No": 31 / 41, "Yes": 10 / 41})
    assert stats.metric == "accuracy" and stats.labelled == 16
    assert stats.performance == pytest.approx(11 / 16)
    evidence = stats.evidence()
    assert evidence["accuracy"] == stats.performance and evidence["requests"] == 42

    nothing = live_version_stats(log_root, store, "churn", 7, since=T0,
                                 until=T0 + timedelta(hours=1), task="binary")  # fmt: skip
    assert (nothing.requests, nothing.failure_rate, nothing.labels) == (0, None, None)


def test_regression_values_and_rmse(log_root: str, store: MetadataStore) -> None:
    rows = [row(f"r{i}", 1, T0 + timedelta(seconds=i), float(i), latency_ms=2.0)
            for i in range(50)]  # fmt: skip
    with PredictionLog(log_root, flush_interval_s=60) as log:
        log.append(rows)
        log.flush(timeout=20)
    for i in range(10):
        record_feedback(store, prediction_id=f"r{i}", actual=float(i) + 2.0, model="churn")
    stats = live_version_stats(log_root, store, "churn", 1, since=T0,
                               until=T0 + timedelta(hours=1), task="regression")  # fmt: skip
    assert stats.labels is None and sorted(stats.values) == [float(i) for i in range(50)]
    assert stats.metric == "rmse" and stats.performance == pytest.approx(2.0)
    assert stats.labelled == 10
    assert stats.evidence()["prediction_quantiles"]["p50"] == 25.0
