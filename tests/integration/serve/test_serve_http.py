"""``conveyor serve`` end to end: a real uvicorn subprocess over a registered churn model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conveyor.testing.churn import CHURN_RECORD as RECORD

REPO = Path(__file__).resolve().parents[3]
Server = Any  # conftest.Server: a started server with .url, .log, .stop()


JSON = {"content-type": "application/json"}


def post(server: Server, path: str, body: bytes | str, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers={**JSON, **headers}, timeout=10)


def check_prediction(answer: dict, version: int = 1) -> None:
    assert len(answer["prediction_id"]) == 32 and int(answer["prediction_id"], 16) >= 0
    assert answer["model"] == "churn" and answer["version"] == version
    assert answer["label"] in ("No", "Yes") and answer["fallback"] is False
    assert set(answer["probabilities"]) == {"No", "Yes"}
    # The ONNX engine computes in float32: probabilities sum to 1 within its precision.
    assert abs(sum(answer["probabilities"].values()) - 1.0) < 1e-6
    assert 0.0 < answer["threshold"] < 1.0
    expected = "Yes" if answer["probabilities"]["Yes"] >= answer["threshold"] else "No"
    assert answer["label"] == expected


def test_predict_one_record_and_a_list(churn_server: Server) -> None:
    one = httpx.post(churn_server.url + "/v1/predict", json=RECORD, timeout=10)
    assert one.status_code == 200, one.text
    check_prediction(one.json())

    loyal = {**RECORD, "tenure": 70, "contract": "Two year", "total_charges": 5600.0}
    many = httpx.post(churn_server.url + "/v1/predict", json=[RECORD, loyal, {}], timeout=10)
    assert many.status_code == 200, many.text
    answers = many.json()
    assert len(answers) == 3 and len({a["prediction_id"] for a in answers}) == 3
    for answer in answers:
        check_prediction(answer)
    # Same input, same output (to float32 precision: ONNX sums in a different order in a
    # batch); a two-year long-tenure customer is less likely to leave.
    single = one.json()["probabilities"]
    assert answers[0]["probabilities"] == {k: pytest.approx(v, abs=1e-6) for k, v in single.items()}
    assert answers[1]["probabilities"]["Yes"] < answers[0]["probabilities"]["Yes"]


def test_predict_names_every_bad_field(churn_server: Server) -> None:
    body = (
        b'[{"tenure": NaN, "contract": "Ten year", "monthly_charges": "lots"},'
        b' {"senior_citizen": 0.5}, 7]'
    )
    response = post(churn_server, "/v1/predict", body)
    assert response.status_code == 422, response.text
    errors = {(e["index"], e["field"]): e for e in response.json()["errors"]}
    assert set(errors) == {
        (0, "tenure"),
        (0, "contract"),
        (0, "monthly_charges"),
        (1, "senior_citizen"),
        (2, ""),
    }
    assert errors[(0, "tenure")]["problem"] == "nan"
    assert errors[(0, "contract")]["problem"] == "unknown_category"
    assert "Month-to-month" in errors[(0, "contract")]["message"]
    assert errors[(0, "monthly_charges")]["problem"] == "type"
    assert errors[(1, "senior_citizen")]["problem"] == "type"
    assert errors[(2, "")]["problem"] == "not_an_object"
    assert "5 invalid field(s)" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "phrase"),
    [
        (b"{}", {"content-type": "text/plain"}, 415, "application/json"),
        (b"", {}, 400, "empty"),
        (b'{"tenure": 3', {}, 400, "not valid JSON"),
        (b'"just text"', {}, 422, "record object or a list"),
        (b"[]", {}, 422, "empty"),
        (orjson.dumps([{}] * 1001), {}, 413, "1000"),
        (b"[" + b"{}," * 400_000 + b"{}]", {}, 413, "1000000 bytes"),
    ],
    ids=["content-type", "empty", "bad-json", "scalar", "empty-list", "max-batch", "max-body"],
)
def test_predict_rejects_bad_requests(
    churn_server: Server, body: bytes, headers: dict[str, str], status: int, phrase: str
) -> None:
    response = post(churn_server, "/v1/predict", body, **headers)
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]


def test_streamed_body_over_the_limit_is_413(churn_server: Server) -> None:
    def chunks():  # no Content-Length: the server must count what arrives
        yield b"["
        for _ in range(300):
            yield b'{"tenure": 1, "contract": "One year"},' * 100
        yield b"{}]"

    response = httpx.post(
        churn_server.url + "/v1/predict", content=chunks(), headers=JSON, timeout=10
    )
    assert response.status_code == 413, response.text
    assert "max_body_bytes" in response.json()["detail"]


def test_health_ready_models_metrics_openapi(churn_server: Server) -> None:
    url = churn_server.url
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    assert httpx.get(url + "/ready").json() == {"status": "ready", "model": "churn", "version": 1}
    models = httpx.get(url + "/v1/models").json()
    assert models["ref"] == "churn@champion"
    (served,) = models["models"]
    assert served["name"] == "churn" and served["version"] == 1
    assert served["engine"] in ("onnx", "python") and served["loaded_at"].endswith("+00:00")
    contract = next(f for f in served["inputs"] if f["name"] == "contract")
    assert contract["categories"] == ["Month-to-month", "One year", "Two year"]

    httpx.post(url + "/v1/predict", json=RECORD)
    post(churn_server, "/v1/predict", b"nope")
    metrics = httpx.get(url + "/metrics").text
    assert (
        'conveyor_requests_total{endpoint="predict",model="churn",status="200",version="1"}'
        in metrics
    )
    assert 'status="400"' in metrics and "conveyor_request_latency_seconds_bucket" in metrics
    assert "conveyor_predict_batch_size_count" in metrics
    assert "conveyor_requests_in_flight" in metrics and "conveyor_errors_total" in metrics
    assert "conveyor_predictions_logged_total" in metrics

    schema = httpx.get(url + "/openapi.json").json()
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    record = body["schema"]["oneOf"][0]
    assert record["properties"]["contract"]["enum"][:3] == [
        "Month-to-month",
        "One year",
        "Two year",
    ]
    assert set(body["example"]) == set(RECORD)
    # The documented example is itself a valid request.
    assert httpx.post(url + "/v1/predict", json=body["example"]).status_code == 200


def test_feedback_is_idempotent_and_knows_its_ids(churn_server: Server) -> None:
    pid = httpx.post(churn_server.url + "/v1/predict", json=RECORD).json()["prediction_id"]
    first = httpx.post(
        churn_server.url + "/v1/feedback", json={"prediction_id": pid, "actual": "Yes"}
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"prediction_id": pid, "recorded": True, "changed": True}
    again = httpx.post(
        churn_server.url + "/v1/feedback", json={"prediction_id": pid, "actual": "Yes"}
    )
    assert again.status_code == 200 and again.json()["changed"] is False

    unknown = httpx.post(
        churn_server.url + "/v1/feedback", json={"prediction_id": "f" * 32, "actual": "No"}
    )
    assert unknown.status_code == 404 and "f" * 32 in unknown.json()["detail"]
    bad = httpx.post(churn_server.url + "/v1/feedback", json={"prediction_id": pid})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "actual"


def test_api_keys_and_scopes(registered_churn_project: Path, start_server) -> None:
    keys = "app:s3cret-app:predict,ops:s3cret-ops:feedback+admin"
    server = start_server(registered_churn_project, env={"CONVEYOR_API_KEYS": keys})
    url = server.url + "/v1/predict"
    assert httpx.post(url, json=RECORD).status_code == 401
    wrong = httpx.post(url, json=RECORD, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    scope = httpx.post(url, json=RECORD, headers={"X-API-Key": "s3cret-ops"})
    assert scope.status_code == 403 and "'predict'" in scope.json()["detail"]
    ok = httpx.post(url, json=RECORD, headers={"Authorization": "Bearer s3cret-app"})
    assert ok.status_code == 200
    assert httpx.post(url, json=RECORD, headers={"X-API-Key": "s3cret-app"}).status_code == 200
    feedback = {"prediction_id": ok.json()["prediction_id"], "actual": "No"}
    denied = httpx.post(
        server.url + "/v1/feedback", json=feedback, headers={"X-API-Key": "s3cret-app"}
    )
    assert denied.status_code == 403
    allowed = httpx.post(
        server.url + "/v1/feedback", json=feedback, headers={"X-API-Key": "s3cret-ops"}
    )
    assert allowed.status_code == 200, allowed.text
    assert httpx.get(server.url + "/health").status_code == 200  # probes stay open
    assert "s3cret" not in server.log.read_text()


def test_serve_refuses_public_address_without_keys(registered_churn_project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_API_KEYS"}
    env["PYTHONPATH"] = str(REPO / "src")
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "-C", str(registered_churn_project), "serve",
         "--host", "0.0.0.0", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "refusing to bind '0.0.0.0' without API keys" in done.stderr
    assert "--insecure" in done.stderr


def test_hot_reload_switches_version_without_failures(project_copy: Path, start_server) -> None:
    from conveyor import Project

    server = start_server(project_copy)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/predict", json=RECORD).json()["version"] == 1
        with Project(project_copy) as project:
            project.registry.promote("churn", 2, reason="test hot reload")
        seen: list[int] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = client.post("/v1/predict", json=[RECORD, RECORD])
            assert response.status_code == 200, response.text
            seen.extend(a["version"] for a in response.json())
            if seen[-1] == 2:
                break
            time.sleep(0.05)
        assert seen[-1] == 2, f"still serving v{seen[-1]} after 10 s"
        assert client.get("/ready").json()["version"] == 2
        assert client.get("/v1/models").json()["models"][0]["version"] == 2


def test_sigterm_flushes_every_prediction_to_the_log(project_copy: Path, start_server) -> None:
    from conveyor.stores.prediction_log import PredictionLog, default_log_root

    server = start_server(project_copy)
    ids: list[str] = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(4):
            ids.append(client.post("/v1/predict", json=RECORD).json()["prediction_id"])
        ids.extend(a["prediction_id"] for a in client.post("/v1/predict", json=[RECORD] * 3).json())
        assert client.post("/v1/predict", json={"contract": "nope"}).status_code == 422
    # uvicorn re-raises the signal after its graceful shutdown: the exit is "killed by SIGTERM".
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Traceback" not in server.log.read_text()
    log = PredictionLog(default_log_root(project_copy))
    try:
        frame = log.scan().collect()
    finally:
        log.close()
    assert sorted(frame["prediction_id"].to_list()) == sorted(ids)
    assert set(frame["version"].to_list()) == {1}
    assert frame["contract"].to_list() == ["Month-to-month"] * 7


def test_several_workers_serve_the_same_model(registered_churn_project: Path, start_server) -> None:
    server = start_server(registered_churn_project, "--workers", "2")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        # Each worker loads the model on its own: wait until every one answers ready
        # (connections land on either worker, so many consecutive 200s mean both are).
        deadline, streak = time.monotonic() + 30, 0
        while streak < 20 and time.monotonic() < deadline:
            streak = streak + 1 if client.get("/ready").status_code == 200 else 0
            if not streak:
                time.sleep(0.1)
        assert streak >= 20, "the workers never all became ready"
        answers = [client.post("/v1/predict", json=RECORD).json() for _ in range(6)]
    assert {a["version"] for a in answers} == {1}
    assert len({a["prediction_id"] for a in answers}) == 6
    assert len({a["probabilities"]["Yes"] for a in answers}) == 1
