"""The HTML pages: every page renders from the real store, offline, and errors are pages too."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(monitored_project, ui_client):
    return ui_client(monitored_project.root)


def _pages(p) -> list[str]:
    return [
        "/runs",
        "/runs?status=failed&sort=metric&order=asc",
        f"/runs/{p.first_run}",
        f"/runs/{p.failed_run}",
        f"/compare?runs={p.first_run},{p.second_run}",
        "/compare",
        "/models",
        "/models/churn",
        "/deployments",
        "/monitoring",
        "/data",
        "/data/1?project=churn",
        "/api",
        "/login",
    ]


def test_every_page_renders_without_outside_resources(client, monitored_project) -> None:
    for path in _pages(monitored_project):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        html = response.text
        sources = re.findall(r'(?:src|href)="([^"]*)"', html)
        outside = [s for s in sources if s.startswith(("http:", "https:", "//"))]
        assert outside == [], (path, outside)
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_runs_page_links_sort_and_filter(client, monitored_project) -> None:
    html = client.get("/runs").text
    assert 'href="/runs?sort=metric&amp;order=desc&amp;page=1&amp;per_page=50"' in html
    assert f'href="/runs/{monitored_project.failed_run}"' in html
    assert "failed its gates" in html
    failed_only = client.get("/runs", params={"status": "failed"}).text
    assert monitored_project.failed_run in failed_only
    assert monitored_project.first_run not in failed_only


def test_run_page_shows_the_failure_lineage_and_steps(client, monitored_project) -> None:
    html = client.get(f"/runs/{monitored_project.failed_run}").text
    assert 'id="failed-step"' in html and "register failed:" in html
    assert 'href="/models/churn">churn v3</a>' in html
    assert "7,043 rows" in html
    assert html.count('class="tag cached"') >= 4
    assert f'data-figures="/api/runs/{monitored_project.failed_run}/figures"' in html
    assert '<script src="/vendor/plotly.min.js" defer>' in html


def test_compare_page_flags_differences(client, monitored_project) -> None:
    html = client.get(
        "/compare", params={"runs": f"{monitored_project.first_run},{monitored_project.second_run}"}
    ).text
    assert '<tr class="differs"><th class="mono">models.0.params.C</th>' in html
    assert "only those that differ" in html
    lonely = client.get("/compare", params={"runs": monitored_project.first_run}).text
    assert "pick at least two runs" in lonely


def test_model_page_offers_confirmed_actions(client) -> None:
    html = client.get("/models/churn").text
    assert 'data-action="promote" data-model="churn" data-version="2"' in html
    assert 'data-version="3" data-rejected="true"' in html
    assert 'data-action="rollback"' in html and 'data-action="canary"' in html
    assert '<dialog id="confirm"' in html
    assert "admin API key" not in html  # no keys configured: the dialog asks for none


def test_model_page_asks_for_a_key_when_auth_is_on(monitored_project, ui_client) -> None:
    client = ui_client(monitored_project.root, api_keys={"ops": "k:admin"})
    html = client.get("/models/churn").text
    assert 'id="confirm-key"' in html and "sign in" in html


def test_monitoring_and_data_pages(client) -> None:
    html = client.get("/monitoring", params={"model": "churn"}).text
    assert "churn: data drift" in html and "trigger drift fired" in html
    assert 'data-figures="/api/monitoring/figures?model=churn&amp;days=30"' in html
    data = client.get("/data/1", params={"project": "churn"}).text
    assert "7,043 rows checked" in data and "tenure" in data


def test_error_pages(client) -> None:
    missing = client.get("/runs/abcdef123456")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "not found" in missing.text
    assert client.get("/models/nope").status_code == 404
    bad = client.get("/runs", params={"sort": "nope"})
    assert bad.status_code == 422 and "&#39;started&#39;" in bad.text


def test_assets_are_served_locally(client) -> None:
    plotly = client.get("/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert plotly.status_code == 200
    assert plotly.headers["content-encoding"] == "gzip"
    assert plotly.text.startswith("/**\n* plotly.js v")  # httpx decodes gzip
    assert "max-age" in plotly.headers["cache-control"]
    plain = client.get("/vendor/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 1_000_000
    assert client.get("/static/ui.js").status_code == 200
    assert client.get("/static/ui.css").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
