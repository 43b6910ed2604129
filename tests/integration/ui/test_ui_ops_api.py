"""Traffic, monitoring and deployments endpoints over logged predictions and monitor runs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(monitored_project, ui_client):
    return ui_client(monitored_project.root)


def test_traffic_from_the_prediction_log(client) -> None:
    body = client.get("/api/traffic", params={"hours": 24}).json()
    assert body["total"] == 720
    (row,) = body["rows"]
    assert (row["model"], row["version"], row["predictions"]) == ("churn", 1, 720)
    assert 1.0 <= row["latency_p50_ms"] <= row["latency_p95_ms"] <= row["latency_p99_ms"] <= 7.0
    assert row["fallback_rate"] == pytest.approx(18 / 720)
    assert row["error_rate"] == 0.0
    assert row["per_hour"] == pytest.approx(720 / 24)
    narrow = client.get("/api/traffic", params={"hours": 1}).json()
    assert narrow["total"] <= 240
    assert client.get("/api/traffic", params={"hours": 0}).status_code == 422
    assert client.get("/api/traffic", params={"model": "other"}).json()["total"] == 0


def test_traffic_figures(client) -> None:
    body = client.get("/api/traffic/figures", params={"hours": 24}).json()
    assert [f["id"] for f in body["figures"]] == ["traffic", "latency"]
    counts = body["figures"][0]["figure"]["data"][0]
    assert sum(counts["y"]) == 720 and counts["name"] == "churn v1"


def test_traffic_of_an_empty_log(filled_project, ui_client) -> None:
    client = ui_client(filled_project.root)
    assert client.get("/api/traffic").json() == {"hours": 24, "total": 0, "rows": []}
    assert client.get("/api/traffic/figures").json()["figures"] == []


def test_monitoring_runs_alerts_firings_decisions(client) -> None:
    body = client.get("/api/monitoring", params={"model": "churn"}).json()
    assert body["available"] and body["model"] == "churn" and body["note"] is None
    assert len(body["runs"]) == 3
    newest = body["runs"][0]
    assert newest["n_predictions"] == 240 and 100 <= newest["n_labelled"] <= 240
    assert newest["metrics"]["drift.share"] > body["runs"][-1]["metrics"]["drift.share"]
    assert body["alerts"][0]["title"] == "churn: data drift"
    assert '"drift.share": 0.45' in body["alerts"][0]["evidence"]
    assert body["firings"][0]["trigger"] == "drift"
    assert body["decisions"][0]["action"] == "retrain"
    assert body["decisions"][0]["reason"] == "trigger drift fired"


def test_monitoring_figures(client) -> None:
    body = client.get("/api/monitoring/figures", params={"model": "churn"}).json()
    ids = [f["id"] for f in body["figures"]]
    assert ids[0] == "drift-heatmap"
    assert {"drift-share", "performance", "latency", "rates"} <= set(ids)
    assert any(i.startswith("distribution-") for i in ids)
    heat = body["figures"][0]["figure"]["data"][0]
    assert heat["type"] == "heatmap" and "tenure" in heat["y"] and len(heat["x"]) == 3
    perf = next(f for f in body["figures"] if f["id"] == "performance")["figure"]["data"]
    labels = next(trace for trace in perf if trace.get("name") == "labels")
    assert labels["type"] == "bar" and all(v > 0 for v in _values(labels["y"]))


def _values(array):
    """Plotly sends numbers as lists or as base64 typed arrays; count what is there."""
    if isinstance(array, dict):
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return array


def test_monitoring_without_monitor_runs(filled_project, ui_client) -> None:
    client = ui_client(filled_project.root)
    body = client.get("/api/monitoring").json()
    assert body["model"] == "churn" and body["runs"] == [] and "conveyor monitor" in body["note"]
    figures = client.get("/api/monitoring/figures").json()
    assert figures["figures"] == [] and "no monitor run" in figures["notes"][0]
    assert client.get("/api/monitoring", params={"days": 0}).status_code == 422


def _beat(project, server_id: str, *, canary: float | None, stats: dict) -> None:
    from conveyor.stores.deployments import Heartbeat, write_heartbeat

    write_heartbeat(
        project.metadata,
        Heartbeat(
            server_id=server_id, host="box", pid=4242, address="http://127.0.0.1:8000",
            model="churn", model_ref="churn@champion", champion_version=1,
            challenger_version=2, canary_traffic=canary, stats=stats,
        ),
    )  # fmt: skip


def test_deployments_from_heartbeats(project_copy, ui_client) -> None:
    import conveyor

    client = ui_client(project_copy.root)
    empty = client.get("/api/deployments").json()
    assert empty["servers"] == [] and "conveyor serve" in empty["note"]
    stats = {
        "request_rate": 41.5, "latency_p50_ms": 1.2, "latency_p95_ms": 3.4,
        "latency_p99_ms": 8.9, "error_rate": 0.01, "fallback_rate": None,
    }  # fmt: skip
    with conveyor.Project(project_copy.root) as project:
        _beat(project, "srv-a", canary=0.1, stats=stats)
    (server,) = client.get("/api/deployments").json()["servers"]
    assert server["status"] == "running" and server["server_id"] == "srv-a"
    assert (server["champion_version"], server["challenger_version"]) == (1, 2)
    assert server["canary_share"] == 0.1 and server["request_rate"] == 41.5
    assert server["latency_p99_ms"] == 8.9 and server["fallback_rate"] is None
    page = client.get("/deployments")
    assert page.status_code == 200 and "srv-a" in page.text and "41.50" in page.text


def test_canary_share_needs_admin_and_reaches_the_store(project_copy, ui_client) -> None:
    from conveyor.serve.deployments import canary_traffic

    keys = {"ops": "k-admin:admin", "app": "k-app:predict"}
    client = ui_client(project_copy.root, api_keys=keys)
    assert client.post("/api/models/churn/canary", json={"traffic": 0.25}).status_code == 401
    denied = client.post(
        "/api/models/churn/canary", json={"traffic": 0.25}, headers={"X-API-Key": "k-app"}
    )
    assert denied.status_code == 403
    ok = client.post(
        "/api/models/churn/canary", json={"traffic": 0.25}, headers={"X-API-Key": "k-admin"}
    )
    assert ok.status_code == 200 and ok.json()["actor"] == "ui:ops"
    project = client.app.state.ui.project
    assert canary_traffic(project.metadata, "churn") == 0.25
    assert "25.0 %" in client.get("/models/churn").text
    for bad in (1.5, -0.1, "lots"):
        response = client.post(
            "/api/models/churn/canary", json={"traffic": bad}, headers={"X-API-Key": "k-admin"}
        )
        assert response.status_code == 422, bad
        assert "traffic" in response.json()["detail"]
    cleared = client.post(
        "/api/models/churn/canary", json={"traffic": None}, headers={"X-API-Key": "k-admin"}
    )
    assert cleared.status_code == 200 and canary_traffic(project.metadata, "churn") is None
    unknown = client.post(
        "/api/models/nope/canary", json={"traffic": 0.1}, headers={"X-API-Key": "k-admin"}
    )
    assert unknown.status_code == 404


def test_drift_heat_map_is_grouped_by_day_beyond_a_week_of_windows(
    project_copy, ui_client, hourly_windows
) -> None:
    client = ui_client(project_copy.root)
    hourly_windows(client.app.state.ui.project.metadata, 200)
    trace = client.get("/api/monitoring/figures").json()["figures"][0]["figure"]["data"][0]
    assert trace["y"] == ["b", "a"]
    assert 8 <= len(trace["x"]) <= 10 and all(len(x) == 10 for x in trace["x"])
    hourly = client.get("/api/monitoring/figures", params={"days": 1}).json()["figures"][0]
    assert len(hourly["figure"]["data"][0]["x"]) == 24  # a day of windows: one cell each
