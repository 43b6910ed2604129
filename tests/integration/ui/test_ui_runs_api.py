"""The runs, compare and data endpoints over a store filled by real churn pipeline runs."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SORT_KEYS = ["started", "duration", "status", "kind", "model", "metric", "dataset", "id"]


@pytest.fixture
def client(filled_project, ui_client):
    return ui_client(filled_project.root)


def test_runs_list_newest_first_with_derived_columns(client, filled_project) -> None:
    body = client.get("/api/runs").json()
    assert body["total"] == 3 and body["pages"] == 1
    ids = [r["id"] for r in body["items"]]
    assert ids == [filled_project.failed_run, filled_project.second_run, filled_project.first_run]
    first = body["items"][2]
    assert first["status"] == "succeeded"
    assert first["model"] == "churn v1"
    assert first["primary_metric"] == "roc_auc"
    assert 0.7 < first["primary_value"] < 0.95
    assert first["dataset_version"] == 1
    assert first["duration_s"] > 0
    failed = body["items"][0]
    assert failed["status"] == "failed"
    assert failed["model"] == "churn v3"  # registered as rejected: the summary has no model
    assert "failed its gates" in failed["error"]


@pytest.mark.parametrize("key", SORT_KEYS)
def test_every_sort_key_orders_both_ways(client, key: str) -> None:
    asc = client.get("/api/runs", params={"sort": key, "order": "asc"})
    desc = client.get("/api/runs", params={"sort": key, "order": "desc"})
    assert asc.status_code == desc.status_code == 200
    assert {r["id"] for r in asc.json()["items"]} == {r["id"] for r in desc.json()["items"]}
    assert asc.json()["sort"] == key


def test_sort_by_metric_is_numeric_in_the_database(client) -> None:
    values = [
        r["primary_value"]
        for r in client.get("/api/runs", params={"sort": "metric", "order": "asc"}).json()["items"]
    ]
    assert values == sorted(values)
    model_order = [
        r["model"]
        for r in client.get("/api/runs", params={"sort": "model", "order": "asc"}).json()["items"]
    ]
    assert model_order == ["churn v1", "churn v2", "churn v3"]


def test_filters(client, filled_project) -> None:
    failed = client.get("/api/runs", params={"status": "failed"}).json()
    assert [r["id"] for r in failed["items"]] == [filled_project.failed_run]
    assert failed["total"] == 1
    assert client.get("/api/runs", params={"model": "churn"}).json()["total"] == 3
    assert client.get("/api/runs", params={"model": "churn v2"}).json()["total"] == 1
    assert client.get("/api/runs", params={"model": "other"}).json()["total"] == 0
    assert client.get("/api/runs", params={"dataset": 1}).json()["total"] == 3
    assert client.get("/api/runs", params={"dataset": 2}).json()["total"] == 0
    assert client.get("/api/runs", params={"kind": "tune"}).json()["total"] == 0
    prefix = filled_project.first_run[:5]
    by_prefix = client.get("/api/runs", params={"q": prefix}).json()["items"]
    assert filled_project.first_run in [r["id"] for r in by_prefix]


def test_pagination_covers_every_run_once(client) -> None:
    page1 = client.get("/api/runs", params={"per_page": 2, "page": 1}).json()
    page2 = client.get("/api/runs", params={"per_page": 2, "page": 2}).json()
    assert page1["pages"] == 2 and page1["total"] == 3
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1
    everyone = {r["id"] for r in client.get("/api/runs").json()["items"]}
    assert {r["id"] for r in page1["items"] + page2["items"]} == everyone
    assert client.get("/api/runs", params={"per_page": 2, "page": 9}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"sort": "accuracy"}, "'started', 'duration', 'status', 'kind', 'model', 'metric'"),
        ({"order": "up"}, "'asc' or 'desc'"),
        ({"status": "done"}, "'running', 'succeeded', 'failed' or 'interrupted'"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 500}, "per_page"),
        ({"page": 0}, "page"),
        ({"q": "zz"}, "'q'"),
        ({"dataset": "x"}, "'dataset'"),
    ],
)
def test_bad_list_parameters_are_422_naming_what_is_allowed(client, params, needle) -> None:
    response = client.get("/api/runs", params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and needle in detail, detail


def test_unknown_run_is_404_json(client) -> None:
    for path in ("/api/runs/abcdef123456", "/api/runs/not-a-run", "/api/runs/abcdef123456/figures"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert "not found" in response.json()["detail"]


def test_run_detail_of_a_failed_run(client, filled_project) -> None:
    body = client.get(f"/api/runs/{filled_project.failed_run[:6]}").json()
    assert body["run"]["id"] == filled_project.failed_run
    names = [s["name"] for s in body["steps"]]
    assert names == ["collect", "validate", "clean", "split", "train", "evaluate", "register"]
    by_name = {s["name"]: s for s in body["steps"]}
    assert by_name["collect"]["cached"] and by_name["train"]["cached"]
    assert not by_name["evaluate"]["cached"]  # the gates are part of its config
    assert by_name["register"]["status"] == "failed"
    assert body["failed_step"]["name"] == "register"
    assert "failed its gates" in body["failed_step"]["error"]
    assert body["lineage"]["dataset_version"] == 1
    assert body["lineage"]["dataset_rows"] == 7043
    assert body["lineage"]["model_name"] == "churn"
    assert body["lineage"]["model_version"] == 3
    assert body["lineage"]["model_status"] == "rejected"
    assert body["params"]["evaluate.gates.roc_auc"] == ">= 0.99"
    assert body["params"]["models.1.tune.n_trials"] == 4
    assert set(body["metrics"]) >= {"roc_auc", "accuracy", "f1"}
    assert [r["model"] for r in body["leaderboard"]][:1] in (["logreg"], ["tree"])
    assert len(body["leaderboard"]) == 2
    assert len(body["validation_leaderboard"]) == 2
    assert body["report_available"] is True


def test_run_detail_lineage_of_the_champion(client, filled_project) -> None:
    lineage = client.get(f"/api/runs/{filled_project.first_run}").json()["lineage"]
    assert lineage["model_version"] == 1 and lineage["model_aliases"] == ["champion"]


def test_run_figures_from_the_evaluation_report(client, filled_project) -> None:
    body = client.get(f"/api/runs/{filled_project.first_run}/figures").json()
    ids = [f["id"] for f in body["figures"]]
    assert {"confusion", "roc", "pr", "calibration"} <= set(ids)
    tuning = [f for f in body["figures"] if f["id"].startswith("tuning")]
    assert len(tuning) == 1 and "tree" in tuning[0]["title"]
    trials = tuning[0]["figure"]["data"][0]
    assert len(trials["x"]) >= 1  # trial numbers, in the order they ran
    for figure in body["figures"]:
        assert figure["figure"]["data"], figure["id"]
        assert "layout" in figure["figure"]


def test_run_figures_without_a_report_say_where_they_looked(
    project_copy, ui_client, filled_project
) -> None:
    shutil.rmtree(project_copy.root / ".conveyor" / "reports")
    client = ui_client(project_copy.root)
    body = client.get(f"/api/runs/{filled_project.first_run}/figures").json()
    assert body["figures"] == []
    assert "no evaluation report" in body["notes"][0]
    detail = client.get(f"/api/runs/{filled_project.first_run}").json()
    assert detail["report_available"] is False


def test_compare_highlights_differing_params_and_best_metrics(client, filled_project) -> None:
    ids = f"{filled_project.first_run},{filled_project.second_run}"
    body = client.get("/api/compare", params={"runs": ids}).json()
    assert [r["id"] for r in body["runs"]] == [filled_project.first_run, filled_project.second_run]
    params = {p["key"]: p for p in body["params"]}
    assert params["models.0.params.C"]["differs"] is True
    assert params["models.0.params.C"]["values"] == [1.0, 0.05]
    assert params["split.train"]["differs"] is False
    metrics = {m["key"]: m for m in body["metrics"]}
    roc = metrics["roc_auc"]
    if roc["differs"]:
        assert roc["best"] == roc["values"].index(max(roc["values"]))
    log_loss = metrics["log_loss"]
    if log_loss["differs"]:
        assert log_loss["best"] == log_loss["values"].index(min(log_loss["values"]))
    repeated = client.get(
        "/api/compare",
        params=[("runs", filled_project.first_run), ("runs", filled_project.failed_run)],
    )
    assert repeated.status_code == 200 and len(repeated.json()["runs"]) == 2


def test_compare_figures_overlay_every_run(client, filled_project) -> None:
    ids = f"{filled_project.first_run},{filled_project.second_run}"
    body = client.get("/api/compare/figures", params={"runs": ids}).json()
    roc = next(f for f in body["figures"] if f["id"] == "roc")
    names = " ".join(trace.get("name", "") for trace in roc["figure"]["data"])
    assert filled_project.first_run in names and filled_project.second_run in names


def test_compare_bad_input(client, filled_project) -> None:
    one = client.get("/api/compare", params={"runs": filled_project.first_run})
    assert one.status_code == 422 and "2 to 8" in one.json()["detail"]
    missing = client.get("/api/compare")
    assert missing.status_code == 422 and "'runs'" in missing.json()["detail"]
    unknown = client.get("/api/compare", params={"runs": f"{filled_project.first_run},abcabc"})
    assert unknown.status_code == 404


def test_datasets_list_and_detail(client, filled_project) -> None:
    page = client.get("/api/datasets").json()
    assert page["total"] == 1
    row = page["items"][0]
    assert row["version"] == 1 and row["rows"] == 7043 and row["columns"] == 20
    assert row["used_by_runs"] == 3
    assert row["run_id"] == filled_project.first_run
    detail = client.get("/api/datasets/1", params={"project": "churn"}).json()
    assert len(detail["schema"]) == 20 and "tenure" in detail["schema"]
    assert detail["validation"]["enabled"] is True
    assert detail["validation"]["rows"] == 7043
    assert {r["id"] for r in detail["recent_runs"]} == {
        filled_project.first_run,
        filled_project.second_run,
        filled_project.failed_run,
    }
    assert client.get("/api/datasets/v9").status_code == 404
    assert client.get("/api/datasets/latest").json()["dataset"]["version"] == 1


def test_openapi_documents_the_api(client) -> None:
    doc = client.get("/api/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/figures",
        "/api/compare",
        "/api/models",
        "/api/models/{name}",
        "/api/models/{name}/promote",
        "/api/models/{name}/rollback",
        "/api/deployments",
        "/api/monitoring",
        "/api/traffic",
        "/api/datasets",
        "/api/datasets/{ref}",
    ):
        assert path in paths, path
    sort = next(p for p in paths["/api/runs"]["get"]["parameters"] if p["name"] == "sort")
    assert "metric" in sort["schema"]["enum"]
    assert "RunPage" in doc["components"]["schemas"]
    body = paths["/api/models/{name}/promote"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("PromoteIn")
    assert not any(p.startswith("/runs") for p in paths)  # pages are not part of the API
