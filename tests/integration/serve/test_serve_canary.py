"""Canary, shadow, fallbacks and admin endpoints of a real ``conveyor serve`` subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from conveyor.testing.churn import CHURN_RECORD as RECORD

REPO = Path(__file__).resolve().parents[3]
Server = Any  # conftest.Server


LOYAL = {**RECORD, "tenure": 70, "contract": "Two year", "total_charges": 5600.0}
NEW = {**RECORD, "tenure": 2, "total_charges": 161.0}


def configure(
    project: Path, serve: str, *, challenger: int | None = 2, promote: int | None = None
) -> Path:
    """Append a ``serve:`` section to the project's config; set the challenger alias."""
    from conveyor import Project

    config = project / "conveyor.yaml"
    config.write_text(config.read_text() + "serve:\n" + serve)
    with Project(project) as opened:
        if challenger is not None:
            opened.registry.set_alias("churn", "challenger", challenger, reason="test")
        if promote is not None:
            opened.registry.promote("churn", promote, reason="test")
    return project


def wait_for_models(server: Server, count: int, *, warnings: int = 0) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        body = httpx.get(server.url + "/v1/models", timeout=10).json()
        if len(body["models"]) == count and len(body["warnings"]) >= warnings:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def read_log(project: Path) -> Any:
    from conveyor.stores.prediction_log import PredictionLog, default_log_root

    log = PredictionLog(default_log_root(project))
    try:
        return log.scan().collect()
    finally:
        log.close()


def test_canary_share_stable_keys_metrics_and_runtime_traffic(
    project_copy: Path, start_server
) -> None:
    configure(project_copy, "  canary: {alias: challenger, traffic: 0.3, key_field: customer}\n")
    server = start_server(project_copy)
    models = wait_for_models(server, 2)
    assert [(m["version"], m["role"]) for m in models["models"]] == [(1, "champion"), (2, "canary")]
    assert models["canary_traffic"] == 0.3
    with server.client() as client:
        versions = [
            client.post(
                "/v1/predict", json=RECORD, headers={"X-Request-Key": uuid.uuid4().hex}
            ).json()["version"]
            for _ in range(400)
        ]
        # binomial(400, 0.3): sd = 9.2 records; 4 sd either side
        assert 120 - 37 <= versions.count(2) <= 120 + 37, versions.count(2)
        assert set(versions) == {1, 2}
        for key in ("alice", "bob", "carol", "dave"):
            seen = {
                client.post("/v1/predict", json=RECORD, headers={"X-Request-Key": key}).json()[
                    "version"
                ]
                for _ in range(8)
            }
            assert len(seen) == 1, (key, seen)
        # the record field routes records of one batch separately, each stably
        batch = [{**RECORD, "customer": f"c{i}"} for i in range(60)]
        first = [a["version"] for a in client.post("/v1/predict", json=batch).json()]
        again = [a["version"] for a in client.post("/v1/predict", json=batch).json()]
        assert first == again and set(first) == {1, 2}
        # invalid records are a 422 naming their request position, whichever model has them
        bad = client.post("/v1/predict", json=[*batch[:9], {"contract": "nope"}])
        assert bad.status_code == 422 and bad.json()["errors"][0]["index"] == 9

        for traffic, expected in ((1.0, {2}), (0.0, {1})):
            moved = client.post("/v1/admin/canary", json={"traffic": traffic})
            assert moved.status_code == 200 and moved.json()["traffic"] == traffic
            answers = client.post("/v1/predict", json=batch[:20]).json()
            assert {a["version"] for a in answers} == expected
        for bad_traffic in (1.5, -0.1, "half", None):
            refused = client.post("/v1/admin/canary", json={"traffic": bad_traffic})
            assert refused.status_code == 422 and "[0, 1]" in refused.json()["detail"]
        metrics = client.get("/metrics").text
    assert 'conveyor_predictions_total{model="churn",version="1"}' in metrics
    assert 'conveyor_predictions_total{model="churn",version="2"}' in metrics
    assert "conveyor_canary_traffic 0.0" in metrics
    assert server.stop() in (0, -signal.SIGTERM)
    frame = read_log(project_copy)
    assert set(frame["version"].to_list()) == {1, 2}
    assert set(frame["status"].to_list()) == {"ok"}


def test_shadow_scores_the_challenger_off_the_response(project_copy: Path, start_server) -> None:
    configure(project_copy, "  shadow: {alias: challenger}\n")
    server = start_server(project_copy)
    assert wait_for_models(server, 2)["models"][1]["role"] == "shadow"
    with server.client() as client:
        ids = [client.post("/v1/predict", json=RECORD).json() for _ in range(5)]
        ids += client.post("/v1/predict", json=[LOYAL, NEW]).json()
        assert {a["version"] for a in ids} == {1} and not any(a["fallback"] for a in ids)
        deadline = time.monotonic() + 10
        while 'conveyor_shadow_predictions_total{model="churn",version="2"} 7.0' not in (
            metrics := client.get("/metrics").text
        ):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.05)
    assert server.stop() in (0, -signal.SIGTERM)
    frame = read_log(project_copy)
    shadow = frame.filter(frame["status"] == "shadow")
    served = frame.filter(frame["status"] == "ok")
    assert sorted(served["prediction_id"].to_list()) == sorted(a["prediction_id"] for a in ids)
    assert set(served["version"].to_list()) == {1} and set(shadow["version"].to_list()) == {2}
    assert sorted(shadow["prediction_id"].to_list()) == sorted(
        f"{a['prediction_id']}-shadow" for a in ids
    )


def test_absent_challenger_warns_and_low_confidence_falls_back_to_rules_and_constant(
    project_copy: Path, start_server
) -> None:
    configure(
        project_copy,
        "  canary: {alias: nobody, traffic: 0.5}\n"
        "  fallback:\n"
        "    min_confidence: 1.01\n"
        "    constant: {label: 'No'}\n"
        "    rules:\n"
        "      - {when: \"contract == 'Month-to-month' and tenure < 6\", label: 'Yes'}\n",
        challenger=None,
    )
    server = start_server(project_copy)
    models = wait_for_models(server, 1, warnings=1)
    assert "nobody" in models["warnings"][0] and "canary/shadow off" in models["warnings"][0]
    with server.client() as client:
        new, loyal = client.post("/v1/predict", json=[NEW, LOYAL]).json()
        assert new["label"] == "Yes" and new["fallback_source"] == "rule[0]"
        assert loyal["label"] == "No" and loyal["fallback_source"] == "constant"
        for answer in (new, loyal):
            assert answer["version"] == 1 and answer["fallback"] is True
            assert answer["fallback_reason"] == "low_confidence"
        invalid = client.post("/v1/predict", json={"contract": "nope"})
        assert invalid.status_code == 422 and "fallback" not in invalid.text
        metrics = client.get("/metrics").text
    assert 'conveyor_fallbacks_total{reason="low_confidence"} 2.0' in metrics


def test_latency_budget_and_previous_version_fallbacks(project_copy: Path, start_server) -> None:
    # v2 is the champion now; the previous champion, v1, answers when v2 is too slow.
    configure(
        project_copy,
        "  fallback: {latency_budget_ms: 0.0001, previous_version: true, constant: {label: 'No'}}\n",
        challenger=None,
        promote=2,
    )
    server = start_server(project_copy)
    with server.client() as client:
        answers = client.post("/v1/predict", json=[RECORD, LOYAL]).json()
        for answer in answers:
            assert answer["fallback"] is True and answer["fallback_reason"] == "latency"
            assert answer["fallback_source"] == "previous_version" and answer["version"] == 1
            assert set(answer["probabilities"]) == {"No", "Yes"}
        assert client.post("/v1/predict", json={"tenure": "x"}).status_code == 422
        assert client.get("/ready").json()["version"] == 2
        metrics = client.get("/metrics").text
    assert 'conveyor_fallbacks_total{reason="latency"} 2.0' in metrics
    assert 'conveyor_predictions_total{model="churn",version="1"} 2.0' in metrics


def test_admin_endpoints_need_the_admin_scope(project_copy: Path, start_server) -> None:
    from conveyor import Project

    keys = "app:s3cret-app:predict,ops:s3cret-ops:admin"
    server = start_server(project_copy, env={"CONVEYOR_API_KEYS": keys})
    app, ops = {"X-API-Key": "s3cret-app"}, {"X-API-Key": "s3cret-ops"}
    with server.client() as client:
        promote = {"version": 2, "reason": "better auc"}
        assert client.post("/v1/admin/promote", json=promote).status_code == 401
        denied = client.post("/v1/admin/promote", json=promote, headers=app)
        assert denied.status_code == 403 and "'admin'" in denied.json()["detail"]
        assert client.post("/v1/admin/reload", headers=app).status_code == 403
        assert (
            client.post("/v1/admin/rollback", json={"reason": "x"}, headers=app).status_code == 403
        )

        missing = client.post("/v1/admin/promote", json={"version": 2}, headers=ops)
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
        unknown = client.post("/v1/admin/promote", json={"version": 9, "reason": "x"}, headers=ops)
        assert unknown.status_code == 404 and "9" in unknown.json()["detail"]
        done = client.post("/v1/admin/promote", json=promote, headers=ops)
        assert done.status_code == 200, done.text
        assert done.json()["served"]["champion"] == 2
        assert client.post("/v1/predict", json=RECORD, headers=app).json()["version"] == 2

        back = client.post("/v1/admin/rollback", json={"reason": "bad canary"}, headers=ops)
        assert back.status_code == 200 and back.json()["served"]["champion"] == 1
        assert client.post("/v1/predict", json=RECORD, headers=app).json()["version"] == 1
        reload = client.post("/v1/admin/reload", headers=ops)
        assert reload.status_code == 200 and reload.json()["served"]["champion"] == 1
        # no serve.canary configured: there is no share to set
        off = client.post("/v1/admin/canary", json={"traffic": 0.5}, headers=ops)
        assert off.status_code == 409
    with Project(project_copy) as project:
        moves = project.registry.history("churn", "champion")
    assert [(m.action, m.actor, m.reason) for m in moves[-2:]] == [
        ("promote", "api:ops", "better auc"),
        ("rollback", "api:ops", "bad canary"),
    ]


def test_bad_fallback_rule_stops_serve_naming_it(project_copy: Path) -> None:
    configure(
        project_copy,
        "  fallback:\n    rules:\n      - {when: 'tenure < 6', label: 'Yes'}\n"
        "      - {when: 'tenure >', label: 'No'}\n",
        challenger=None,
    )
    env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_API_KEYS"}
    env["PYTHONPATH"] = str(REPO / "src")
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "-C", str(project_copy), "serve", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "serve.fallback.rules[1].when" in done.stderr


def test_heartbeat_reports_the_server_and_follows_the_fleet_canary_share(
    project_copy: Path, start_server
) -> None:
    from conveyor import Project
    from conveyor.stores.deployments import list_deployments, set_canary_traffic

    configure(project_copy, "  canary: {alias: challenger, traffic: 0.0}\n  heartbeat_s: 0.3\n")
    server = start_server(project_copy)
    wait_for_models(server, 2)
    with Project(project_copy) as project:
        store = project.metadata
        deadline = time.monotonic() + 20
        seen: dict[str, Any] = {}
        with server.client() as client:
            while not seen.get("requests"):
                assert time.monotonic() < deadline, "no heartbeat with traffic"
                for _ in range(10):
                    assert client.post("/v1/predict", json=RECORD).json()["version"] == 1
                rows = [
                    d for d in list_deployments(store, model="churn") if d.address == server.url
                ]
                if rows and rows[0].stats.get("requests"):  # a beat after the models loaded
                    row = rows[0]
                    assert (row.champion_version, row.challenger_version) == (1, 2)
                    assert row.canary_traffic == 0.0 and row.model_ref == "churn@champion"
                    seen = row.stats
                time.sleep(0.2)
        assert seen["request_rate"] > 0 and seen["latency_p99_ms"] > 0
        assert seen["error_rate"] == 0.0 and seen["fallback_rate"] == 0.0

        # A share set in the store (the dashboard, another worker) reaches the server.
        set_canary_traffic(store, "churn", 1.0, actor="test")
        body = {}
        while body.get("canary_traffic") != 1.0:
            assert time.monotonic() < deadline + 10, body
            body = httpx.get(server.url + "/v1/models", timeout=10).json()
            time.sleep(0.1)
        with server.client() as client:
            answers = client.post("/v1/predict", json=[RECORD] * 10).json()
            assert {a["version"] for a in answers} == {2}
            # and the admin API sets the fleet share, not just this process's
            assert client.post("/v1/admin/canary", json={"traffic": 0.0}).status_code == 200
        from conveyor.stores.deployments import canary_traffic

        assert canary_traffic(store, "churn") == 0.0
        assert server.stop() in (0, -signal.SIGTERM)
        stopped = [
            d for d in list_deployments(store, include_stopped=True) if d.address == server.url
        ]
        assert [d.status for d in stopped] == ["stopped"]
