"""The closed loop on real, time-ordered data, against a real server under load.

A model trained on the first 30 % of the rainfall data (rows in time order) is
served by ``conveyor serve``. The last part of the data, which has drifted
(seasons change), is replayed through it with its labels. The agent notices,
retrains on the new labelled traffic, starts a canary, promotes the challenger,
and the server's answers move to the new version — while a client thread keeps
sending requests the whole time and none of them fails.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

CONFIG = """\
version: 1
project: rain
task: binary
target: rain
positive_class: 1
seed: 7
data:
  sources: [{name: weather, path: data/first.csv}]
  include_feedback: true
validate: {on_violation: warn}   # the new season breaks the first season's ranges, by design
split: {method: stratified, train: 0.7, validation: 0.15, test: 0.15}
models:
  - {name: logreg, estimator: logistic_regression, params: {max_iter: 500}}
evaluate: {primary_metric: roc_auc, cv_folds: null, permutation_importance: false,
           gates: {roc_auc: ">= 0.6"}}
serve: {reload_interval_s: 0.3, heartbeat_s: 1.0, canary: {alias: challenger, traffic: 0.5}}
monitor: {window: 1h, min_labels: 30}
alerts: {sinks: [{type: log, path: .conveyor/alerts.jsonl}]}
triggers:
  - {name: weather_changed, when: "drift.share > 0.3", action: retrain}
agent:
  interval: 1s
  canary: {min_requests: 80, min_duration: 2s, max_duration: 10m, max_prediction_drift: 0.6,
           max_latency_ratio: 10.0, min_performance_delta: -0.05}
"""


class Load(threading.Thread):
    """Sends one record after another until stopped; counts versions and failures."""

    def __init__(self, url: str, records: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.url, self.records = url, records
        self.stop = threading.Event()
        self.versions: list[int] = []
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            i = 0
            while not self.stop.is_set():
                try:
                    r = client.post("/v1/predict", json=self.records[i % len(self.records)])
                    if r.status_code == 200:
                        self.versions.append(r.json()["version"])
                    else:
                        self.failures.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                i += 1


def test_agent_retrains_canaries_and_promotes_under_load(
    shared_datasets: Path, tmp_path: Path
) -> None:
    import polars as pl

    from conveyor import Project
    from conveyor.demo import _Server, _wait_logged

    frame = pl.read_csv(shared_datasets / "rainfall" / "rainfall_data.csv").drop("")
    n = frame.height
    root = tmp_path / "rain"
    (root / "data").mkdir(parents=True)
    frame[: n * 3 // 10].write_csv(root / "data" / "first.csv")
    (root / "conveyor.yaml").write_text(CONFIG)
    later = frame[int(n * 0.9) :]
    records = later.drop("rain").to_dicts()
    labels = later["rain"].to_list()

    with Project(root) as project:
        project.run()
        assert project.registry.resolve("rain@champion").version == 1

    server = _Server(root, tmp_path / "server.log")
    load: Load | None = None
    try:
        server.wait_ready()
        load = Load(server.url, records)
        load.start()
        with httpx.Client(base_url=server.url, timeout=10.0) as client, Project(root) as project:

            def replay(rows: range) -> None:
                answer: dict[str, Any] = {}
                for i in rows:
                    answer = client.post("/v1/predict", json=records[i]).json()
                    sent = client.post(
                        "/v1/feedback",
                        json={"prediction_id": answer["prediction_id"], "actual": labels[i]},
                    )
                    assert sent.status_code == 200, sent.text
                _wait_logged(project, answer.get("prediction_id"))  # the agent reads the disk

            replay(range(0, 400))  # the drifted season, labelled
            agent = project.agent()
            tick = agent.tick()
            actions = [d.action for d in tick.decisions]
            assert [r.trigger for r in tick.fired] == ["weather_changed"], tick
            assert actions == ["retrain", "canary_start"], (actions, tick.notes, tick.error)
            challenger = tick.decisions[-1].to_version
            assert challenger == 2
            server.wait_for(lambda m: any(x["version"] == 2 for x in m["models"]))

            replay(range(400, 900))  # the canary sees labelled traffic too
            time.sleep(2.1)
            decisions: list[str] = []
            deadline = time.monotonic() + 60
            while "promote" not in decisions:
                assert time.monotonic() < deadline, [d.reason for d in project.history()]
                tick = agent.tick()
                decisions += [d.action for d in tick.decisions]
                assert not {"rollback", "reject"} & set(decisions), [
                    (d.action, d.reason) for d in tick.decisions
                ]
                if "promote" not in decisions:
                    replay(range(900, 1000))
            assert project.registry.resolve("rain@champion").version == 2

        # The server follows: every answer now comes from v2.
        deadline = time.monotonic() + 20
        while True:
            seen = len(load.versions)
            time.sleep(1.0)
            if load.versions[seen:] and set(load.versions[seen:]) == {2}:
                break
            assert time.monotonic() < deadline, set(load.versions[seen:])
    finally:
        if load is not None:
            load.stop.set()
            load.join(10)
        server.stop()
    assert load.failures == [], load.failures[:5]
    assert 1 in load.versions and load.versions[-1] == 2
    history = [d.action for d in Project(root).history("rain")]
    assert history[:3] == ["retrain", "canary_start", "promote"], history
