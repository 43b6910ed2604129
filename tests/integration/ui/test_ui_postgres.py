"""The dashboard's SQL (JSON paths, lineage subqueries, day buckets) on PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conveyor.testing.churn import CHURN_LOGREG_CONFIG

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def pg_client(postgres_url: str, tmp_path: Path, churn_csv: Path):
    from fastapi.testclient import TestClient

    import conveyor
    from conveyor.ui.app import create_ui_app

    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    shutil.copyfile(churn_csv, root / "data" / "churn.csv")
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG, encoding="utf-8")
    env = {"CONVEYOR_DB_URL": postgres_url}
    ids = []
    for overrides in ([], ["models.0.params.C=0.05"], ["evaluate.gates.roc_auc=>= 0.99"]):
        with conveyor.Project(root, overrides=overrides, env=env) as project:
            ids.append(project.run(raise_on_failure=False).id)
    project = conveyor.Project(root, env=env)
    assert project.metadata.dialect == "postgresql"
    with TestClient(create_ui_app(project, api_keys={})) as client:
        yield client, ids
    project.close()


def test_runs_list_sorts_and_filters_in_postgres(pg_client) -> None:
    client, (first, second, failed) = pg_client
    body = client.get("/api/runs").json()
    assert [r["id"] for r in body["items"]] == [failed, second, first]
    assert body["items"][2]["model"] == "churn v1"
    assert body["items"][0]["model"] == "churn v3"
    assert all(
        r["primary_metric"] == "roc_auc" and r["dataset_version"] == 1 for r in body["items"]
    )
    values = [
        r["primary_value"]
        for r in client.get("/api/runs", params={"sort": "metric", "order": "asc"}).json()["items"]
    ]
    assert values == sorted(values) and None not in values
    for key in ("model", "dataset", "duration", "status"):
        assert client.get("/api/runs", params={"sort": key}).status_code == 200
    assert client.get("/api/runs", params={"model": "churn v2"}).json()["total"] == 1
    assert client.get("/api/runs", params={"dataset": 1, "status": "failed"}).json()["total"] == 1
    detail = client.get(f"/api/runs/{failed}").json()
    assert detail["failed_step"]["name"] == "register"
    assert detail["lineage"]["model_status"] == "rejected"
    assert client.get("/api/datasets").json()["items"][0]["used_by_runs"] == 3
    assert client.get("/api/models/churn").json()["total_versions"] == 3
    assert client.get("/runs").status_code == 200


def test_drift_heat_map_is_grouped_by_day_in_postgres(pg_client, hourly_windows) -> None:
    client, _ = pg_client
    hourly_windows(client.app.state.ui.project.metadata, 200)
    body = client.get("/api/monitoring/figures", params={"days": 30}).json()
    heat = body["figures"][0]
    assert heat["id"] == "drift-heatmap"
    trace = heat["figure"]["data"][0]
    assert trace["y"] == ["b", "a"]  # the drifting feature first
    assert 8 <= len(trace["x"]) <= 10 and all(len(x) == 10 for x in trace["x"])  # YYYY-MM-DD
