"""Models, promotion and rollback through the dashboard, and its access rules."""

from __future__ import annotations

import pytest

from conveyor.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ADMIN_KEY = "adm1n-secret"
VIEWER_KEY = "v1ewer-secret"
KEYS = {"ops": f"{ADMIN_KEY}:admin", "viewer": f"{VIEWER_KEY}:predict+feedback"}
PROMOTE = {"version": 2, "reason": "v2 looks better on fresh data"}


def test_models_and_versions(filled_project, ui_client) -> None:
    client = ui_client(filled_project.root)
    models = client.get("/api/models").json()["models"]
    assert [m["name"] for m in models] == ["churn"]
    assert models[0]["versions"] == 3 and models[0]["aliases"] == {"champion": 1}
    body = client.get("/api/models/churn").json()
    assert body["primary_metric"] == "roc_auc"
    assert body["total_versions"] == 3
    versions = {v["version"]: v for v in body["versions"]}
    assert versions[1]["aliases"] == ["champion"] and versions[1]["status"] == "champion"
    assert versions[3]["status"] == "rejected" and versions[3]["gates_passed"] is False
    failed_gate = versions[3]["gates"][0]
    assert failed_gate["metric"] == "roc_auc" and failed_gate["passed"] is False
    assert 0.7 < versions[2]["primary_value"] < 0.95
    assert body["history"][0]["actor"] == "rule:promotion"
    paged = client.get("/api/models/churn", params={"per_page": 2, "page": 2}).json()
    assert [v["version"] for v in paged["versions"]] == [1]


def test_unknown_model_is_404_listing_known_ones(filled_project, ui_client) -> None:
    response = ui_client(filled_project.root).get("/api/models/churnn")
    assert response.status_code == 404
    assert "churn" in response.json()["detail"]


def test_promote_and_rollback_with_an_admin_key(project_copy, ui_client) -> None:
    client = ui_client(project_copy.root, api_keys=KEYS)
    assert client.post("/api/models/churn/promote", json=PROMOTE).status_code == 401
    viewer = client.post(
        "/api/models/churn/promote", json=PROMOTE, headers={"X-API-Key": VIEWER_KEY}
    )
    assert viewer.status_code == 403 and "'admin' scope" in viewer.json()["detail"]
    wrong = client.post("/api/models/churn/promote", json=PROMOTE, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    ok = client.post(
        "/api/models/churn/promote", json=PROMOTE, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["champion_version"] == 2 and ok.json()["actor"] == "ui:ops"
    body = client.get("/api/models/churn").json()
    assert body["aliases"]["champion"] == 2
    newest = body["history"][0]
    assert (newest["action"], newest["from_version"], newest["to_version"]) == ("promote", 1, 2)
    assert newest["actor"] == "ui:ops" and newest["reason"] == PROMOTE["reason"]
    back = client.post(
        "/api/models/churn/rollback",
        json={"reason": "latency regression"},
        headers={"X-API-Key": ADMIN_KEY},
    )
    assert back.status_code == 200 and back.json()["champion_version"] == 1
    assert client.get("/api/models/churn").json()["history"][0]["action"] == "rollback"


def test_promote_refusals(project_copy, ui_client) -> None:
    client = ui_client(project_copy.root)
    rejected = client.post("/api/models/churn/promote", json={"version": 3, "reason": "try"})
    assert rejected.status_code == 409 and "rejected" in rejected.json()["detail"]
    forced = client.post(
        "/api/models/churn/promote", json={"version": 3, "reason": "try", "force": True}
    )
    assert forced.status_code == 200 and forced.json()["actor"] == "ui:local"
    assert (
        client.post("/api/models/churn/promote", json={"version": 9, "reason": "x"}).status_code
        == 404
    )
    assert (
        client.post("/api/models/nope/promote", json={"version": 1, "reason": "x"}).status_code
        == 404
    )
    no_reason = client.post("/api/models/churn/promote", json={"version": 2, "reason": ""})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    form = client.post("/api/models/churn/promote", data={"version": "2", "reason": "x"})
    assert form.status_code == 415
    text = client.post(
        "/api/models/churn/promote",
        content=b'{"version": 2, "reason": "x"}',
        headers={"Content-Type": "text/plain"},
    )
    assert text.status_code == 415


def test_rollback_without_a_previous_champion_is_404(project_copy, ui_client) -> None:
    client = ui_client(project_copy.root)
    response = client.post("/api/models/churn/rollback", json={"reason": "oops"})
    assert response.status_code == 404 and "no previous champion" in response.json()["detail"]


def test_without_keys_changes_come_only_from_loopback(project_copy, ui_client) -> None:
    remote = ui_client(project_copy.root, client_host="192.0.2.10")
    assert remote.get("/api/runs").status_code == 200
    refused = remote.post("/api/models/churn/promote", json=PROMOTE)
    assert refused.status_code == 403 and "loopback" in refused.json()["detail"]


def test_reads_need_a_key_when_bound_beyond_loopback(filled_project, ui_client) -> None:
    client = ui_client(filled_project.root, host="0.0.0.0", api_keys=KEYS)
    assert client.get("/api/runs").status_code == 401
    assert client.get("/api/runs", headers={"X-API-Key": VIEWER_KEY}).status_code == 200
    page = client.get("/runs", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    bad = client.post("/login", data={"key": "nope", "next": "/models"}, follow_redirects=False)
    assert bad.status_code == 401
    good = client.post(
        "/login", data={"key": VIEWER_KEY, "next": "/models"}, follow_redirects=False
    )
    assert good.status_code == 303 and good.headers["location"] == "/models"
    assert "httponly" in good.headers["set-cookie"].lower()
    assert VIEWER_KEY not in good.headers["set-cookie"]
    assert client.get("/models").status_code == 200  # the session cookie now
    assert client.get("/api/runs").status_code == 200
    # A viewer's session still may not move aliases.
    assert client.post("/api/models/churn/promote", json=PROMOTE).status_code == 403
    client.cookies.set("conveyor_ui_session", "forged.value")
    assert client.get("/api/runs").status_code == 401


def test_login_never_redirects_off_site(filled_project, ui_client) -> None:
    client = ui_client(filled_project.root, api_keys=KEYS)
    for target in ("https://example.org/", "//example.org/x", "/\\example.org"):
        response = client.post(
            "/login", data={"key": ADMIN_KEY, "next": target}, follow_redirects=False
        )
        assert response.headers["location"] == "/runs", target


def test_loopback_reads_are_open_even_with_keys(filled_project, ui_client) -> None:
    client = ui_client(filled_project.root, api_keys=KEYS)
    assert client.get("/api/runs").status_code == 200
    assert client.get("/models/churn").status_code == 200


def test_refuses_a_public_bind_without_keys(filled_project) -> None:
    import conveyor
    from conveyor.ui.app import create_ui_app

    with conveyor.Project(filled_project.root) as project:
        with pytest.raises(
            ConfigError, match=r"ui: refusing to bind '0\.0\.0\.0' without API keys"
        ):
            create_ui_app(project, host="0.0.0.0", api_keys={})
        create_ui_app(project, host="0.0.0.0", api_keys={}, insecure=True)
        create_ui_app(project, host="0.0.0.0", api_keys=KEYS)


def test_cli_refuses_a_public_bind_without_keys(filled_project) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[3] / "src"
    env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_API_KEYS"}
    env["PYTHONPATH"] = str(src)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conveyor",
            "-C",
            str(filled_project.root),
            "ui",
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "ui: refusing to bind '0.0.0.0' without API keys" in proc.stderr
    assert "--insecure" in proc.stderr
