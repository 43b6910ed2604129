"""A churn project filled by real pipeline runs (built once per session) and dashboard clients."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.testing.churn import CHURN_LOGREG_CONFIG

# Two candidates, one tuned, so the run page has a leaderboard and a tuning history.
UI_CONFIG = CHURN_LOGREG_CONFIG.replace(
    """    params: {C: 1.0, max_iter: 500}
""",
    """    params: {C: 1.0, max_iter: 500}
  - name: tree
    estimator: decision_tree
    params: {max_depth: 4}
    tune:
      n_trials: 4
      space:
        max_depth: {type: int, low: 2, high: 8}
""",
)


@dataclass(frozen=True)
class FilledProject:
    """The project directory and the ids of what the runs made."""

    root: Path
    first_run: str
    second_run: str
    failed_run: str


def build_project(root: Path, churn_csv: Path) -> FilledProject:
    """Three real runs: v1 (champion), v2 (other C), and a run whose gate fails (v3 rejected)."""
    import conveyor

    (root / "data").mkdir(parents=True)
    shutil.copyfile(churn_csv, root / "data" / "churn.csv")
    (root / "conveyor.yaml").write_text(UI_CONFIG, encoding="utf-8")
    with conveyor.Project(root) as project:
        first = project.run().id
    with conveyor.Project(root, overrides=["models.0.params.C=0.05"]) as project:
        second = project.run().id
    with conveyor.Project(root, overrides=["evaluate.gates.roc_auc=>= 0.99"]) as project:
        failed = project.run(raise_on_failure=False)
        assert failed.status == "failed", failed.error
    with conveyor.Project(root) as project:
        versions = {v.version: v.status for v in project.registry.list_versions("churn")}
        assert versions[3] == "rejected", versions
        if project.registry.resolve("churn@champion").version != 1:
            project.registry.promote("churn", 1, reason="test setup")
    return FilledProject(root=root, first_run=first, second_run=second, failed_run=failed.id)


@pytest.fixture(scope="session")
def filled_project(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> FilledProject:
    """The shared project: read it, never move its aliases (use ``project_copy``)."""
    return build_project(tmp_path_factory.mktemp("ui") / "proj", churn_csv)


@pytest.fixture
def project_copy(filled_project: FilledProject, tmp_path: Path) -> FilledProject:
    """A private copy, for tests that promote or roll back."""
    dest = tmp_path / "proj"
    shutil.copytree(filled_project.root, dest)
    return FilledProject(
        root=dest,
        first_run=filled_project.first_run,
        second_run=filled_project.second_run,
        failed_run=filled_project.failed_run,
    )


@pytest.fixture
def ui_client() -> Iterator[Callable[..., object]]:
    """``ui_client(root, host=..., api_keys=..., insecure=...)``: a TestClient over the dashboard."""
    from fastapi.testclient import TestClient

    import conveyor
    from conveyor.ui.app import create_ui_app

    opened: list[tuple[object, object]] = []

    def make(
        root: Path,
        *,
        host: str = "127.0.0.1",
        api_keys: dict[str, str] | None = None,
        insecure: bool = False,
        client_host: str = "127.0.0.1",
    ) -> TestClient:
        project = conveyor.Project(root)
        app = create_ui_app(project, host=host, api_keys=api_keys or {}, insecure=insecure)
        client = TestClient(app, client=(client_host, 50000))
        opened.append((client, project))
        return client

    yield make
    for client, project in opened:
        client.close()  # type: ignore[attr-defined]
        project.close()  # type: ignore[attr-defined]


WINDOW = timedelta(hours=1)


def log_and_monitor(root: Path, *, windows: int = 3, per_window: int = 240) -> datetime:
    """Score churn rows with the champion, log them, label most, run ``monitor`` per window.

    The last window's rows are shifted (longer tenure, two-year contracts), so it
    drifts. Returns the end of the last window.
    """
    import polars as pl

    import conveyor
    from conveyor.automate import AutomationStore
    from conveyor.monitor import monitor_model
    from conveyor.registry import fetch_bundle
    from conveyor.stores.feedback import record_feedback
    from conveyor.stores.prediction_log import PredictionLog, default_log_root

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - windows * WINDOW
    with conveyor.Project(root) as project:
        version = project.registry.resolve("churn@champion")
        bundle = fetch_bundle(project.artifacts, version, root / ".conveyor" / "tmp" / "bundle")
        names = bundle.signature.input_names
        data = pl.read_csv(root / "data" / "churn.csv", infer_schema_length=None)
        data = data.drop_nulls(subset=names)
        runtime = bundle.runtime()
        log = PredictionLog(default_log_root(root))
        truth: dict[str, str] = {}
        for w in range(windows):
            shift = {"tenure": 70, "contract": "Two year"} if w == windows - 1 else {}
            part = data.slice(w * per_window, per_window)
            records = [{**r, **shift} for r in part.select(names).to_dicts()]
            outputs = runtime.predict_records(records)
            rows = []
            for i, (record, out) in enumerate(zip(records, outputs, strict=True)):
                pid = uuid.uuid4().hex
                truth[pid] = part["churn"][i]
                rows.append(
                    {
                        "prediction_id": pid, "model": "churn", "version": version.version,
                        "ts": start + w * WINDOW + i * (WINDOW / per_window),
                        "inputs": record, "prediction": out["label"],
                        "probabilities": out["probabilities"], "latency_ms": 1.0 + i % 7,
                        "fallback": i % 40 == 0, "status": "ok",
                    }
                )  # fmt: skip
            log.append(rows)
        log.close()
        for i, (pid, actual) in enumerate(truth.items()):
            if i % 3:  # two in three predictions get their label
                record_feedback(project.metadata, prediction_id=pid, actual=actual, model="churn")
        for w in range(windows):
            monitor_model(
                "churn",
                store=project.metadata,
                artifacts=project.artifacts,
                registry=project.registry,
                log_root=default_log_root(root),
                since=start + w * WINDOW,
                until=start + (w + 1) * WINDOW,
            )
        automation = AutomationStore(project.metadata)
        evidence = {"drift.share": 0.45, "threshold": 0.3, "window": "1h"}
        automation.record_alert(
            model="churn", key="churn:drift", severity="warning", title="churn: data drift",
            message="drift.share 0.45 > 0.3", evidence=evidence, created_at=end,
            delivered=["log"], failed=[], status="sent",
        )  # fmt: skip
        automation.record_firing(
            model="churn", trigger="drift", fired_at=end, action="retrain", evidence=evidence,
            outcome="retrain started",
        )  # fmt: skip
        automation.record_decision(
            model="churn", action="retrain", from_version=version.version, to_version=None,
            evidence=evidence, reason="trigger drift fired", created_at=end, actor="agent",
        )  # fmt: skip
    return end


@pytest.fixture(scope="session")
def monitored_project(
    filled_project: FilledProject, tmp_path_factory: pytest.TempPathFactory
) -> FilledProject:
    """A copy of the filled project with three monitored windows, an alert and a decision."""
    dest = tmp_path_factory.mktemp("ui-monitored") / "proj"
    shutil.copytree(filled_project.root, dest)
    log_and_monitor(dest)
    return FilledProject(
        root=dest,
        first_run=filled_project.first_run,
        second_run=filled_project.second_run,
        failed_run=filled_project.failed_run,
    )


def _save_hourly_windows(store: object, hours: int) -> None:
    """``hours`` stored monitor windows of two features (``b`` drifts in the last ten)."""
    from datetime import UTC, datetime, timedelta

    from conveyor.monitor._series import MetricRow, save_monitor_run

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for h in range(hours):
        w_end = end - timedelta(hours=hours - 1 - h)
        drifted = h >= hours - 10
        rows = [MetricRow("drift.share", 0.5 if drifted else 0.0)]
        for column, hot in (("a", False), ("b", drifted)):
            rows.append(MetricRow("drift.statistic", 0.4 if hot else 0.01, column=column))
            rows.append(MetricRow("drift.drifted", 1.0 if hot else 0.0, column=column))
        save_monitor_run(
            store, model="churn", versions=[1], window_start=w_end - timedelta(hours=1),
            window_end=w_end, n_predictions=10, n_labelled=0,
            summary={"task": "binary", "metrics": {}}, rows=rows,
        )  # fmt: skip


@pytest.fixture
def hourly_windows() -> Callable[[object, int], None]:
    """``hourly_windows(store, hours)``: store that many hourly monitor windows of two features."""
    return _save_hourly_windows
