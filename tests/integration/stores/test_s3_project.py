"""A whole project on S3: ``conveyor run`` stores every artifact in the bucket, the registered
bundle loads back from it, and a store that is not there fails the run cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor import Project
from conveyor.errors import StoreError
from conveyor.registry import fetch_bundle
from conveyor.testing.churn import CHURN_LOGREG_CONFIG, CHURN_RECORD

from .conftest import S3_KEY, S3_SECRET, free_port, s3_client

SRC = Path(__file__).resolve().parents[3] / "src"
FAST_FAIL = {"config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}


def _project_dir(tmp_path: Path, churn_csv: Path, stores: dict[str, Any]) -> Path:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    config = yaml.safe_load(CHURN_LOGREG_CONFIG)
    config["stores"] = stores
    (root / "conveyor.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


@pytest.mark.slow
def test_conveyor_run_on_s3_then_the_bundle_loads_from_the_bucket(
    tmp_path: Path, churn_csv: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    stores = {
        "artifacts": f"s3://{s3_bucket}/churn/artifacts",
        "storage_options": {
            "endpoint_url": s3_endpoint,
            "key": "${env:TEST_S3_KEY}",
            "secret": "${env:TEST_S3_SECRET}",
        },
    }
    root = _project_dir(tmp_path, churn_csv, stores)
    secrets = {"TEST_S3_KEY": S3_KEY, "TEST_S3_SECRET": S3_SECRET}
    env = {
        **os.environ,
        **secrets,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    env.pop("CONVEYOR_DB_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "conveyor", "run"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert S3_SECRET not in proc.stdout + proc.stderr

    assert not (root / ".conveyor" / "artifacts").exists(), "nothing may be stored locally"
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert len(listed) > 5 and all(o["Key"].startswith("churn/artifacts/sha256/") for o in listed)

    with Project(root, env=secrets) as project:
        (run,) = project.metadata.list_runs(project="churn")
        assert run.status == "succeeded"
        stored = json.dumps(project.metadata.get_run(run.id).config)
        assert S3_SECRET not in stored and S3_KEY not in stored
        version = project.registry.resolve("churn@champion")
        bundle = fetch_bundle(project.artifacts, version, tmp_path / "served")
        (out,) = bundle.runtime().predict_records([CHURN_RECORD])
        assert out["label"] in {"Yes", "No"}


def _failing_project(tmp_path: Path, churn_csv: Path, stores: dict[str, Any]) -> Project:
    root = _project_dir(tmp_path, churn_csv, stores)
    return Project(root)


def _assert_failed_cleanly(project: Project, reason: str) -> None:
    with pytest.raises(StoreError, match=reason) as info:
        project.run()
    runs = project.metadata.list_runs(project="churn")
    assert [r.status for r in runs] == ["failed"], "no run may be left 'running'"
    assert runs[0].id == info.value.run_id  # type: ignore[attr-defined]
    error = project.metadata.get_run(runs[0].id).error or ""
    assert reason in error, error


def test_a_run_against_an_unreachable_object_store_fails_naming_the_address(
    tmp_path: Path, churn_csv: Path
) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    stores = {
        "artifacts": "s3://team-bucket/artifacts",
        "storage_options": {"endpoint_url": address, "key": "k", "secret": "s", **FAST_FAIL},
    }
    with _failing_project(tmp_path, churn_csv, stores) as project:
        _assert_failed_cleanly(project, f"cannot reach {address}")


def test_a_run_against_a_missing_bucket_fails_naming_the_bucket(
    tmp_path: Path, churn_csv: Path, s3_options: dict[str, Any]
) -> None:
    stores = {"artifacts": "s3://no-such-team-bucket/artifacts", "storage_options": s3_options}
    with _failing_project(tmp_path, churn_csv, stores) as project:
        _assert_failed_cleanly(project, "bucket 'no-such-team-bucket' does not exist")
