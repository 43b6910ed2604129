"""``conveyor demo``: the whole life of a model on the bundled churn example.

In a scratch directory: train and register a model, serve it on loopback,
replay customer traffic with a drift injected part-way and labels arriving
late, let the agent alert, retrain, canary and promote (or roll back), and
say where the reports are. Every stage is narrated through ``say``; nothing
here prints or imports the CLI stack, so the demo runs the same from Python.

The server is a real ``conveyor serve`` subprocess; the agent runs in this
process, one tick at a time, so the story is told in order.

Example:
    >>> result = run_demo(Path("/tmp/conveyor-demo"), say=print)  # doctest: +SKIP
    >>> result.final_champion  # doctest: +SKIP
    2
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conveyor.errors import ConveyorError

__all__ = ["DEMO_CONFIG", "DemoResult", "run_demo"]

Say = Callable[[str], None]

DEMO_CONFIG = """\
# Conveyor demo: Telco churn, with the closed loop switched on.
version: 1
project: churn
task: binary
target: churn
positive_class: "Yes"
seed: 42

data:
  sources:
    - name: customers
      path: data/churn.csv
  include_feedback: true      # retraining learns from labelled live traffic

validate:
  schema: schema.yaml
  on_violation: drop_rows

clean:
  - op: drop_duplicates
  - op: repair_types
  - op: normalize_strings
  - op: fill_missing
    strategy: median
    columns: [total_charges]

split:
  method: stratified
  train: 0.7
  validation: 0.15
  test: 0.15

features:
  derived:
    charge_per_month: "total_charges / (tenure + 1)"

models:
  - name: logreg
    estimator: logistic_regression
    params: {C: 1.0, max_iter: 1000}

evaluate:
  primary_metric: roc_auc
  cv_folds: null
  permutation_importance: false
  gates:
    roc_auc: ">= 0.70"

serve:
  reload_interval_s: 0.5
  heartbeat_s: 1.0
  canary: {alias: challenger, traffic: 0.3}

monitor:
  window: 1h
  min_labels: 30

alerts:
  cooldown: 10m
  sinks:
    - {type: log, path: .conveyor/alerts.jsonl}

triggers:
  - {name: input_drift, when: "drift.share > 0.2", action: retrain}
  - {name: accuracy_drop, when: "performance.accuracy < 0.75", action: alert}

agent:
  interval: 1s
  canary:
    min_requests: 100
    min_duration: 3s
    max_duration: 10m
    max_prediction_drift: 0.5
    max_latency_ratio: 5.0
"""


@dataclass
class DemoResult:
    """What the demo did, for the caller to show or check."""

    root: Path
    first_version: int
    final_champion: int | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    failed_requests: int = 0
    reports: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


# ---------------------------------------------------------------- traffic


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: Any, *, timeout: float = 10.0) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _get(url: str, *, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class _Server:
    """A ``conveyor serve`` subprocess on a free loopback port."""

    def __init__(self, root: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "conveyor", "-C", str(root), "serve"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_API_KEYS"}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConveyorError(
                    f"demo: the server exited with code {self.proc.returncode}; see {self.log}"
                )
            try:
                if _get(self.url + "/ready").get("status") == "ready":
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise ConveyorError(
            f"demo: the server did not become ready in {timeout:.0f}s; see {self.log}"
        )

    def models(self) -> dict[str, Any]:
        return _get(self.url + "/v1/models")

    def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check(self.models()):
            if time.monotonic() > deadline:
                raise ConveyorError(f"demo: the server did not pick up the change; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _drifted(record: dict[str, Any]) -> dict[str, Any]:
    """A new market: shorter tenures, higher charges, month-to-month contracts."""
    out = dict(record)
    out["tenure"] = max(0, int(record["tenure"]) // 4)
    out["monthly_charges"] = round(float(record["monthly_charges"]) * 1.6, 2)
    total = record.get("total_charges")
    if total is not None:
        out["total_charges"] = round(float(total) * 0.4, 2)
    out["contract"] = "Month-to-month"
    out["payment_method"] = "Electronic check"
    return out


class _Traffic:
    """Replays records through the server and sends their labels later."""

    def __init__(self, server: _Server, records: list[dict[str, Any]], labels: list[str]) -> None:
        self.server = server
        self.records = records
        self.labels = labels
        self.cursor = 0
        self.sent = 0
        self.failed = 0
        self.unlabelled: list[tuple[str, str]] = []  # (prediction_id, actual), oldest first
        self.versions: dict[int, int] = {}
        self.last_id: str | None = None

    def replay(self, n: int, *, drift: bool) -> None:
        batch_ids: list[tuple[str, str]] = []
        for _ in range(n):
            i = self.cursor % len(self.records)
            self.cursor += 1
            record = _drifted(self.records[i]) if drift else self.records[i]
            status, body = _post(self.server.url + "/v1/predict", record)
            self.sent += 1
            if status != 200:
                self.failed += 1
                continue
            self.versions[body["version"]] = self.versions.get(body["version"], 0) + 1
            batch_ids.append((body["prediction_id"], self.labels[i]))
            self.last_id = body["prediction_id"]
        self.unlabelled.extend(batch_ids)

    def send_labels(self, *, keep_last: int = 0) -> int:
        """Labels arrive late: all but the ``keep_last`` newest predictions get theirs now."""
        ready = self.unlabelled[: max(0, len(self.unlabelled) - keep_last)]
        self.unlabelled = self.unlabelled[len(ready) :]
        for pid, actual in ready:
            status, _ = _post(
                self.server.url + "/v1/feedback", {"prediction_id": pid, "actual": actual}
            )
            if status != 200:
                self.failed += 1
        return len(ready)


def _wait_logged(project: Any, prediction_id: str | None, timeout: float = 15.0) -> None:
    """Wait until the server's prediction log holds ``prediction_id`` on disk.

    The server writes its log in the background, about once a second; the
    agent reads what is on disk.
    """
    if prediction_id is None:
        return
    log = project.open_prediction_log()
    try:
        deadline = time.monotonic() + timeout
        while not log.lookup([prediction_id]):
            if time.monotonic() > deadline:
                raise ConveyorError(f"demo: prediction {prediction_id} never reached the log")
            time.sleep(0.2)
    finally:
        log.close()


# ---------------------------------------------------------------- the story


def _load_rows(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    import polars as pl

    frame = pl.read_csv(root / "data" / "churn.csv", infer_schema_length=10_000)
    frame = frame.with_columns(pl.col("total_charges").cast(pl.Float64, strict=False))
    frame = frame.drop_nulls().sample(fraction=1.0, shuffle=True, seed=7)
    labels = [str(v) for v in frame["churn"].to_list()]
    return frame.drop("churn").to_dicts(), labels


def _tell_tick(say: Say, report: Any) -> None:
    for result in report.fired:
        say(f"   trigger {result.trigger!r} fired ({result.action}): {result.reason}")
    for outcome in report.alerts:
        where = ", ".join(outcome.delivered) or "no sink"
        say(f"   alert {outcome.status} (to {where})")
    for decision in report.decisions:
        versions = f"v{decision.from_version} -> v{decision.to_version}"
        say(f"   decision: {decision.action} ({versions}): {decision.reason}")
    for note in report.notes:
        say(f"   note: {note}")
    if report.error:
        say(f"   the tick failed: {report.error}")


def run_demo(
    workdir: Path,
    *,
    say: Say = print,
    normal_requests: int = 300,
    drifted_requests: int = 300,
    canary_requests: int = 500,
) -> DemoResult:
    """Run the whole demo in ``workdir`` (created; must be empty or absent).

    Raises:
        ConveyorError: a stage failed (the message says which, and where its log is).
    """
    from conveyor.project import Project
    from conveyor.scaffold import create_project

    started = time.monotonic()
    root = create_project("churn", workdir)
    (root / "conveyor.yaml").write_text(DEMO_CONFIG, encoding="utf-8")
    say(f"1. A churn project in {root}: one model, gates, a canary share of 30%, two triggers.")

    with Project(root) as project:
        result = project.run()
        first = project.registry.resolve("churn@champion").version
        say(f"   trained and registered churn v{first} (run {result.id}); it is the champion.")
    demo = DemoResult(root=root, first_version=first)

    server = _Server(root, root / ".conveyor" / "demo-server.log")
    try:
        server.wait_ready()
        say(f"2. Serving churn v{first} on {server.url} (log: {server.log}).")
        records, labels = _load_rows(root)
        traffic = _Traffic(server, records, labels)

        traffic.replay(normal_requests, drift=False)
        traffic.send_labels()
        say(f"3. Replayed {normal_requests} ordinary customers; their labels came back.")
        with Project(root) as project:
            _wait_logged(project, traffic.last_id)
            agent = project.agent()
            report = agent.tick()
            if not report.fired:
                say("   the agent looked: all quiet.")
            _tell_tick(say, report)

            traffic.replay(drifted_requests, drift=True)
            traffic.send_labels(keep_last=50)
            say(
                f"4. Then {drifted_requests} customers from a new market (shorter tenures, "
                "higher charges, month-to-month): the inputs drift; labels arrive late."
            )
            _wait_logged(project, traffic.last_id)
            report = agent.tick()
            _tell_tick(say, report)
            challenger = next(
                (d.to_version for d in report.decisions if d.action == "canary_start"), None
            )
            if challenger is None:
                say("   the agent started no canary; see `conveyor history churn`.")
            else:
                server.wait_for(lambda m: any(x["version"] == challenger for x in m["models"]))
                say(f"5. The server routes 30% of requests to challenger v{challenger} (canary).")
                traffic.replay(canary_requests, drift=True)
                traffic.send_labels()
                time.sleep(3.2)  # agent.canary.min_duration
                _wait_logged(project, traffic.last_id)
                report = agent.tick()
                _tell_tick(say, report)
                outcome = next(
                    (d for d in report.decisions if d.action in {"promote", "rollback", "reject"}),
                    None,
                )
                if outcome is not None and outcome.action == "promote":
                    server.wait_for(
                        lambda m: any(
                            x["version"] == challenger and x["role"] == "champion"
                            for x in m["models"]
                        )
                    )
                    say(f"6. Promoted: the server now answers with v{challenger}.")
                elif outcome is not None:
                    say(f"6. Not promoted ({outcome.action}): v{first} keeps serving.")
            traffic.replay(50, drift=True)
            monitor = project.monitor(window="1h")
            report_path = _monitor_report(project, monitor)
            demo.final_champion = project.registry.resolve("churn@champion").version
            demo.decisions = [
                {"action": d.action, "from": d.from_version, "to": d.to_version, "reason": d.reason}
                for d in project.history()
            ]
        demo.requests, demo.failed_requests = traffic.sent, traffic.failed
        demo.reports["monitor"] = str(report_path) if report_path else ""
        demo.reports["alerts"] = str(root / ".conveyor" / "alerts.jsonl")
        demo.reports["evaluation"] = str(_latest_evaluation_report(root) or "")
        versions = ", ".join(f"v{v}: {n}" for v, n in sorted(traffic.versions.items()))
        say(
            f"7. {traffic.sent} requests in all ({versions}); {traffic.failed} failed. "
            f"Champion now: v{demo.final_champion}."
        )
    finally:
        server.stop()
    demo.seconds = time.monotonic() - started
    return demo


def _monitor_report(project: Any, monitor: Any) -> Path | None:
    """Write the monitor HTML (and JSON) report of the demo's window; None with no traffic."""
    from datetime import UTC, datetime

    from conveyor.monitor import default_report_path, history_points, write_monitor_reports

    if monitor.empty:
        return None
    path = default_report_path(project.root, monitor.model, at=datetime.now(UTC))
    html, _ = write_monitor_reports(
        monitor, path, history=history_points(project.metadata, monitor)
    )
    return html


def _latest_evaluation_report(root: Path) -> Path | None:
    reports: Iterable[Path] = (root / ".conveyor" / "reports").glob("*/report.html")
    found = sorted(reports, key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
