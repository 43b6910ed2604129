"""`conveyor ui` in a real browser: Debian's Chromium driven by Playwright.

The store is filled the way a user fills it: `conveyor run` on the churn data
(twice, then once with a gate that fails), predictions logged by the champion
and `conveyor monitor` over two windows, and a running `conveyor serve` whose
heartbeat the Deployments page shows. Then every page is opened, charts must
draw (a Plotly svg appears), the browser console must stay free of errors, and
run -> model -> promote (with the admin key) -> history is clicked through.
Screenshots go to ``test-output/ui/`` at the repository root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.testing.churn import CHURN_LOGREG_CONFIG

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-output" / "ui"
ADMIN_KEY = "e2e-admin-key"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]

CONFIG = CHURN_LOGREG_CONFIG.replace(
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


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CONVEYOR_API_KEYS", "CONVEYOR_DB_URL")}
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    return {**env, **extra}


def _conveyor(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "conveyor", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"conveyor {' '.join(args)} exited {proc.returncode}\n{proc.stderr}")
    return proc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(root: Path, logs: Path, *args: str, ready: str, env: dict[str, str]) -> Any:
    port = _free_port()
    log = logs / f"{args[0]}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "-C", str(root), *args, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(**env),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{args[0]} exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + ready, timeout=2.0).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"{args[0]} did not start:\n{log.read_text()}")


def _log_predictions(root: Path, *, windows: int, per_window: int) -> datetime:
    """Score churn rows with the champion and log them; label two in three."""
    import polars as pl

    import conveyor
    from conveyor.registry import fetch_bundle
    from conveyor.stores.feedback import record_feedback
    from conveyor.stores.prediction_log import PredictionLog, default_log_root

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=windows)
    with conveyor.Project(root) as project:
        version = project.registry.resolve("churn@champion")
        bundle = fetch_bundle(project.artifacts, version, root / ".conveyor" / "tmp" / "b")
        names = bundle.signature.input_names
        data = pl.read_csv(root / "data" / "churn.csv", infer_schema_length=None)
        data = data.drop_nulls(subset=names)
        runtime = bundle.runtime()
        log = PredictionLog(default_log_root(root))
        labels: list[tuple[str, str]] = []
        for w in range(windows):
            shift = {"tenure": 70, "contract": "Two year"} if w == windows - 1 else {}
            part = data.slice(w * per_window, per_window)
            records = [{**r, **shift} for r in part.select(names).to_dicts()]
            rows = []
            for i, (record, out) in enumerate(zip(records, runtime.predict_records(records))):
                pid = uuid.uuid4().hex
                labels.append((pid, part["churn"][i]))
                rows.append(
                    {
                        "prediction_id": pid, "model": "churn", "version": version.version,
                        "ts": start + timedelta(hours=w) + i * timedelta(hours=1) / per_window,
                        "inputs": record, "prediction": out["label"],
                        "probabilities": out["probabilities"], "latency_ms": 1.0 + i % 7,
                        "fallback": False, "status": "ok",
                    }
                )  # fmt: skip
            log.append(rows)
        log.close()
        for i, (pid, actual) in enumerate(labels):
            if i % 3:
                record_feedback(project.metadata, prediction_id=pid, actual=actual, model="churn")
    return start


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> Path:
    root = tmp_path_factory.mktemp("ui-e2e") / "proj"
    (root / "data").mkdir(parents=True)
    shutil.copyfile(churn_csv, root / "data" / "churn.csv")
    (root / "conveyor.yaml").write_text(CONFIG, encoding="utf-8")
    _conveyor(root, "run")
    _conveyor(root, "run", "-o", "models.0.params.C=0.05")
    failed = _conveyor(root, "run", "-o", "evaluate.gates.roc_auc=>= 0.99", check=False)
    assert failed.returncode == 1, failed.stderr
    start = _log_predictions(root, windows=2, per_window=200)
    for w in range(2):
        since = (start + timedelta(hours=w)).isoformat()
        until = (start + timedelta(hours=w + 1)).isoformat()
        _conveyor(root, "monitor", "churn", "--since", since, "--until", until)
    return root


@pytest.fixture(scope="module")
def servers(filled_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running `conveyor serve` (it reports a heartbeat) and `conveyor ui` with an admin key."""
    logs = tmp_path_factory.mktemp("ui-logs")
    serve, _ = _start(filled_store, logs, "serve", ready="/ready", env={})
    ui, url = _start(
        filled_store, logs, "ui", ready="/runs", env={"CONVEYOR_API_KEYS": f"ops:{ADMIN_KEY}:admin"}
    )
    yield url
    for proc in (ui, serve):
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')"
    )
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: page.console_errors.append(f"page error: {exc}"))
    yield page
    context.close()


def _open(page: Any, url: str, shot: str, *, charts: bool) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    if charts:
        page.wait_for_selector(".charts[data-rendered]", timeout=30_000)
        assert page.get_attribute(".charts", "data-rendered") not in ("0", "error"), url
        page.wait_for_selector(".js-plotly-plot svg.main-svg", timeout=30_000)
    page.wait_for_load_state("networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)


def test_every_page_in_chromium(servers: str, filled_store: Path, page: Any) -> None:
    import conveyor

    with conveyor.Project(filled_store) as project:
        runs = project.metadata.list_runs(limit=10)
    failed = next(r.id for r in runs if r.status == "failed")
    good = [r.id for r in runs if r.status == "succeeded"]
    pages = [
        ("/runs", "runs", False),
        (f"/runs/{good[-1]}", "run", True),
        (f"/runs/{failed}", "run-failed", True),
        (f"/compare?runs={good[0]},{good[1]}", "compare", True),
        ("/models", "models", False),
        ("/models/churn", "model", False),
        ("/deployments", "deployments", True),
        ("/monitoring?model=churn", "monitoring", True),
        ("/data", "data", False),
        ("/data/1?project=churn", "dataset", False),
        ("/api", "api", False),
    ]
    for path, shot, charts in pages:
        _open(page, servers + path, shot, charts=charts)
    assert "register failed:" in page.goto(f"{servers}/runs/{failed}").text()
    page.wait_for_selector(".js-plotly-plot svg.main-svg")
    heat = page.goto(f"{servers}/monitoring?model=churn")
    assert heat is not None
    page.wait_for_selector("#plot-drift-heatmap svg.main-svg", timeout=30_000)
    page.goto(f"{servers}/deployments")
    assert page.locator("#servers tbody tr").first.locator(".status").inner_text() == "running"
    assert page.console_errors == []


def test_click_through_run_model_promote_history(servers: str, page: Any) -> None:
    _open(page, servers + "/runs?sort=started&order=asc", "click-1-runs", charts=False)
    page.locator("#runs-table tbody tr").nth(1).locator("a.mono").click()  # the second run
    page.wait_for_selector(".js-plotly-plot svg.main-svg", timeout=30_000)
    page.screenshot(path=str(SHOTS / "click-2-run.png"), full_page=True)
    page.click("#lineage-model")
    page.wait_for_selector("#versions")
    assert page.url.endswith("/models/churn")
    before = page.locator("#history tbody tr").count()

    row = page.locator('#versions tr[data-version="2"]')
    row.locator("button.promote").click()
    assert page.locator("#confirm").is_visible()
    page.fill("#confirm-reason", "promoted from the browser test")
    page.fill("#confirm-key", "not-the-key")
    page.click("#confirm-ok")
    page.wait_for_selector("#confirm-error:not([hidden])")
    assert "missing or invalid" in page.inner_text("#confirm-error") or "admin" in page.inner_text(
        "#confirm-error"
    )
    page.console_errors.clear()  # the refused request (401) is logged by Chromium: expected here
    page.fill("#confirm-key", ADMIN_KEY)
    page.screenshot(path=str(SHOTS / "click-3-confirm.png"))
    with page.expect_navigation():
        page.click("#confirm-ok")
    page.wait_for_selector("#history")
    assert page.locator("#history tbody tr").count() == before + 1
    newest = page.locator("#history tbody tr").first.inner_text()
    assert "promote" in newest and "v2" in newest and "ui:ops" in newest
    assert "promoted from the browser test" in newest
    assert "@champion → v2" in page.inner_text("#aliases")
    page.screenshot(path=str(SHOTS / "click-4-history.png"), full_page=True)

    page.click("#canary-button")
    page.fill("#confirm-traffic", "20")
    page.fill("#confirm-key", ADMIN_KEY)
    with page.expect_navigation():
        page.click("#confirm-ok")
    assert "20.0 %" in page.inner_text("#canary-state")
    page.screenshot(path=str(SHOTS / "click-5-canary.png"), full_page=True)
    assert page.console_errors == []
