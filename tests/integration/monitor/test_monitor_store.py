"""Monitor results as time series in the metadata store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import conveyor
from conveyor.monitor import list_monitor_runs, metric_points, metric_series, monitor_model
from conveyor.monitor._series import MetricRow, save_monitor_run
from conveyor.registry import Registry
from conveyor.stores.feedback import record_feedback
from conveyor.stores.metadata import MetadataStore
from conveyor.stores.prediction_log import PredictionLog

T0 = datetime(2026, 11, 1, tzinfo=UTC)
OURS = {"monitor_runs", "monitor_metrics"}


def test_migration_creates_exactly_the_monitoring_tables(store: MetadataStore) -> None:
    from conveyor.monitor import _tables
    from conveyor.stores._tables import metadata
    from conveyor.testing.schema import schema_diffs

    assert _tables.monitor_runs.name == "monitor_runs"  # the import registers the tables
    assert schema_diffs(store.engine, metadata, OURS) == []
    assert _tables.monitor_metrics.c.monitor_run_id.references(_tables.monitor_runs.c.id)


def save(store: MetadataStore, day: int, rows: list[MetricRow], model: str = "churn") -> str:
    end = T0 + timedelta(days=day)
    return save_monitor_run(
        store, model=model, versions=[1, 2], window_start=end - timedelta(days=1), window_end=end,
        n_predictions=100 + day, n_labelled=day, summary={"day": day}, rows=rows,
    )  # fmt: skip


def test_series_by_name_version_column_and_time(store: MetadataStore) -> None:
    for day in (1, 2, 3):
        save(store, day, [
            MetricRow("drift.share", 0.1 * day),
            MetricRow("performance.accuracy", None),
            MetricRow("performance.accuracy", 0.9 - 0.01 * day, version=2),
            MetricRow("drift.statistic", 0.05 * day, column="tenure"),
        ])  # fmt: skip
    save(store, 4, [MetricRow("drift.share", 0.9)], model="other")
    shares = metric_series(store, "churn", "drift.share")
    assert [round(p.value, 6) for p in shares] == [0.1, 0.2, 0.3]
    assert [p.window_end for p in shares] == [T0 + timedelta(days=d) for d in (1, 2, 3)]
    assert [p.value for p in metric_series(store, "churn", "performance.accuracy")] == [None] * 3
    v2 = metric_series(
        store, "churn", "performance.accuracy", version=2, since=T0 + timedelta(days=2)
    )
    assert [round(p.value, 6) for p in v2] == [0.88, 0.87]
    tenure = metric_series(store, "churn", "drift.statistic", column="tenure",
                           until=T0 + timedelta(days=3))  # fmt: skip
    assert [round(p.value, 6) for p in tenure] == [0.05, 0.1]
    everything = metric_points(store, "churn", names=["drift.share", "drift.statistic"])
    assert len(everything) == 6 and {p.column for p in everything} == {None, "tenure"}
    runs = list_monitor_runs(store, "churn", limit=2)
    assert [r.summary["day"] for r in runs] == [3, 2]
    assert runs[0].versions == [1, 2] and runs[0].n_predictions == 103
    assert runs[0].window_end.tzinfo is not None


def test_deleting_a_run_deletes_its_figures(store: MetadataStore) -> None:
    from conveyor.monitor._tables import monitor_metrics, monitor_runs

    run_id = save(store, 1, [MetricRow("drift.share", 0.5)])
    store.transaction(lambda conn: conn.execute(sa.delete(monitor_runs).where(
        monitor_runs.c.id == run_id)))  # fmt: skip
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(monitor_metrics)).scalar() == 0


@pytest.mark.postgres
def test_monitor_on_postgresql(
    registered_churn: Path, churn_scorer: Any, postgres_url: str, tmp_path: Path
) -> None:
    """The whole monitor run with feedback, registry and results in PostgreSQL."""
    with conveyor.Project(registered_churn) as project:
        artifacts = project.artifacts
        v1 = project.registry.get("churn", 1)
    now = datetime.now(UTC)
    rows, truth = churn_scorer.rows(300, start=now - timedelta(hours=5), step=timedelta(seconds=50))
    with PredictionLog(tmp_path / "log") as log:
        log.append(rows)
    with MetadataStore(postgres_url) as store:
        registry = Registry(store)
        registry.register(
            "churn", bundle_digest=v1.bundle_digest, manifest_digest=v1.manifest_digest,
            run_id=None, dataset_version=None, config_fingerprint=None, metrics={}, gates={},
            status="champion",
        )  # fmt: skip
        for row, actual in zip(rows[:200], truth[:200], strict=True):
            record_feedback(store, prediction_id=row["prediction_id"], actual=actual)
        result = monitor_model(
            "churn", store=store, artifacts=artifacts, registry=registry,
            log_root=tmp_path / "log", window_s=86400.0,
        )  # fmt: skip
        assert (result.n_predictions, result.n_labelled) == (300, 200)
        assert result.run_id is not None and result.drift is not None
        stored = metric_series(store, "churn", "performance.labels")
        assert [p.value for p in stored] == [200.0]
        assert list_monitor_runs(store, "churn")[0].summary["n_labelled"] == 200
