"""Opening executors, and a whole pipeline run on a real Dask cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from conveyor.config.models import ExecutorConfig
from conveyor.errors import ConfigError
from conveyor.pipeline.executors import open_executor
from conveyor.project import Project
from conveyor.testing.churn import CHURN_LOGREG_CONFIG

UNREACHABLE = "tcp://127.0.0.1:1"


def test_local_executor_has_no_client() -> None:
    with open_executor(ExecutorConfig()) as executor:
        assert (executor.kind, executor.client, executor.describe()) == ("local", None, "local")
        assert executor.worker_threads() == 1


def test_connecting_to_a_running_scheduler(two_workers: Any) -> None:
    address = two_workers.scheduler.address
    with open_executor(ExecutorConfig(type="dask", address=address)) as executor:
        assert executor.is_dask and not executor.local_cluster
        assert executor.describe() == f"dask {address} (2 workers, 2 threads)"
        assert executor.client.submit(sum, [1, 2]).result() == 3
    assert executor.client is None  # closed; the cluster itself keeps running
    assert two_workers.submit(sum, [3, 4]).result() == 7


def test_unreachable_scheduler_names_the_address_within_the_timeout() -> None:
    started = time.monotonic()
    config = ExecutorConfig(type="dask", address=UNREACHABLE, connect_timeout_s=1.5)
    with (
        pytest.raises(
            ConfigError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1"
        ),
        open_executor(config),
    ):
        pass
    assert time.monotonic() - started < 10


def test_a_local_cluster_is_started_and_stopped() -> None:
    config = ExecutorConfig(type="dask", n_workers=1, threads_per_worker=1, memory_limit="1GiB")
    with open_executor(config) as executor:
        assert executor.local_cluster and executor.describe().endswith("(1 workers, 1 threads)")
        assert executor.client.submit(len, "abc").result() == 3
        cluster = executor._cluster
    assert cluster.status.name == "closed"


# ---------------------------------------------------------------- pipeline runs


def _project(root: Path, churn_csv: Path, extra: str) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG + extra, encoding="utf-8")
    return root


def test_unreachable_scheduler_fails_the_run_before_it_is_recorded(
    tmp_path: Path, churn_csv: Path, capsys: Any
) -> None:
    from conveyor.cli.main import main

    root = _project(tmp_path / "p", churn_csv,
                    f"executor:\n  type: dask\n  address: {UNREACHABLE}\n  connect_timeout_s: 1\n")  # fmt: skip
    with Project(root) as project:
        with pytest.raises(ConfigError, match=UNREACHABLE):
            project.run()
        assert project.metadata.list_runs(project="churn") == []
    assert main(["run", str(root)]) == 2
    assert UNREACHABLE in " ".join(capsys.readouterr().err.split())
    with Project(root) as project:
        assert project.metadata.list_runs(project="churn") == []


def test_a_pipeline_tunes_and_trains_lightgbm_on_the_cluster(
    two_workers: Any, tmp_path: Path, churn_csv: Path
) -> None:
    import optuna
    from distributed import get_task_stream

    gbm = """  - name: gbm
    estimator: lightgbm
    params: {n_estimators: 60, n_jobs: 1}
    tune:
      n_trials: 4
      sampler: random
      space:
        num_leaves: {type: int, low: 4, high: 24}
evaluate:"""
    root = _project(tmp_path / "p", churn_csv, "")
    text = (root / "conveyor.yaml").read_text().replace("evaluate:", gbm, 1)
    address = two_workers.scheduler.address
    (root / "conveyor.yaml").write_text(text + f"executor:\n  type: dask\n  address: {address}\n")
    with get_task_stream(two_workers) as stream, Project(root) as project:
        result = project.run()
        storage = project.optuna_storage_url
    assert result.ok
    rows = {r["name"]: r for r in result.step("train").metrics["leaderboard"]}
    assert rows["gbm"]["estimator"] == "LGBMClassifier" and rows["gbm"]["n_trials"] == 4
    keys = [t["key"] for t in stream.data]
    assert sum("run_batch" in k for k in keys) == 2  # trials ran in two batches on the workers
    assert any("train_part" in k for k in keys)  # the final LightGBM fit trained on the cluster
    [summary] = optuna.get_all_study_summaries(storage)
    assert summary.study_name.endswith(".gbm") and summary.n_trials == 4
