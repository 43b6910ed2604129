"""`conveyor ui` on a big store: 10,000 runs and 1,000,000 logged predictions.

Usage: .venv/bin/python bench/ui_pages.py [--runs 10000] [--predictions 1000000]
                                          [--repeat 15] [--rebuild]

Setup (kept in bench/out/ui_pages and reused unless --rebuild or a size changes):

1. a churn project (``CHURN_LOGREG_CONFIG`` plus a tuned decision tree) run
   once for real: its run, steps, lineage, dataset version, model version and
   evaluation report are the template;
2. the template run copied ``--runs - 1`` times in bulk (SQLAlchemy
   ``executemany``): new ids and start times over 90 days, one in ten failed,
   metrics jittered, a new dataset version every 500 runs, a model version for
   every 20th run with its alias moves;
3. ``--predictions`` rows of the prediction log as Parquet segments (the log's
   own layout: model / version / day / hour), over the last 7 days, 90 % v1 and
   10 % v2, with latency, fallback and status columns;
4. 30 days of hourly monitor runs (720 windows, 20 features each) through
   ``conveyor.monitor``'s store function.

Measured: each page and API endpoint through a real uvicorn server over HTTP
(``httpx``), median of ``--repeat`` requests after one warm-up. Beside them,
what a dashboard without database paging would do: read every run through
``MetadataStore.list_runs`` and sort in Python; read the whole prediction log
with ``PredictionLog.scan`` and aggregate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
WORK = REPO / "bench" / "out" / "ui_pages"
CHURN = REPO.parent / "shared" / "datasets" / "telco_churn" / "wa_churn.csv"
MARKER = "bench-sizes.json"


def _config() -> str:
    from conveyor.testing.churn import CHURN_LOGREG_CONFIG

    return CHURN_LOGREG_CONFIG.replace(
        "    params: {C: 1.0, max_iter: 500}\n",
        "    params: {C: 1.0, max_iter: 500}\n  - name: tree\n    estimator: decision_tree\n"
        "    params: {max_depth: 4}\n    tune:\n      n_trials: 4\n      space:\n"
        "        max_depth: {type: int, low: 2, high: 8}\n",
    )


def build(root: Path, *, n_runs: int, n_predictions: int) -> None:
    import conveyor

    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    shutil.copyfile(CHURN, root / "data" / "churn.csv")
    (root / "conveyor.yaml").write_text(_config(), encoding="utf-8")
    t0 = time.perf_counter()
    with conveyor.Project(root) as project:
        template = project.run().id
        print(f"template run {template}: {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        copies = _copy_runs(project, template, n_runs - 1)
        print(f"{n_runs - 1:,} runs copied: {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        _monitor_windows(project, hours=720)
        print(f"720 monitor windows: {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    _predictions(root, n_predictions)
    print(f"{n_predictions:,} predictions: {time.perf_counter() - t0:.1f} s", flush=True)
    (root / MARKER).write_text(
        json.dumps(
            {
                "runs": n_runs,
                "predictions": n_predictions,
                "template": template,
                "sample": copies[:8],
            }
        )
    )


def _copy_runs(project: Any, template: str, n: int) -> list[str]:
    import sqlalchemy as sa

    from conveyor.registry._tables import model_alias_history, model_aliases, model_versions
    from conveyor.stores._tables import dataset_versions, runs, step_artifacts, steps

    rng = random.Random(7)
    store = project.metadata
    with store.connect() as conn:
        run = dict(conn.execute(sa.select(runs).where(runs.c.id == template)).one()._mapping)
        step_rows = [
            dict(r._mapping)
            for r in conn.execute(sa.select(steps).where(steps.c.run_id == template))
        ]
        links = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(step_artifacts).where(
                    step_artifacts.c.step_id.in_([s["id"] for s in step_rows])
                )
            )
        ]
        dataset = dict(conn.execute(sa.select(dataset_versions)).one()._mapping)
        version = dict(conn.execute(sa.select(model_versions)).one()._mapping)
    collect_id = next(s["id"] for s in step_rows if s["name"] == "collect")
    raw_link = next(
        link for link in links if link["step_id"] == collect_id and link["direction"] == "output"
    )
    now = datetime.now(UTC)
    new_runs, new_steps, new_links, new_datasets, new_versions = [], [], [], [], []
    moves = []
    next_step_id = max(s["id"] for s in step_rows) + 1
    digest_of_version = {1: dataset["digest"]}
    model_version = 1
    ids = []
    for i in range(n):
        run_id = uuid.uuid4().hex[:12]
        ids.append(run_id)
        started = now - timedelta(days=90) + timedelta(seconds=i * 90 * 86400 / n)
        failed = i % 10 == 9
        number = 1 + i // 500
        if number not in digest_of_version:
            digest_of_version[number] = uuid.uuid4().hex + uuid.uuid4().hex
            new_datasets.append(
                {**dataset, "id": None, "version": number, "digest": digest_of_version[number],
                 "run_id": run_id, "created_at": started}
            )  # fmt: skip
        summary = json.loads(json.dumps(run["summary"]))
        for row in summary.get("leaderboard", []):
            for key, value in row.items():
                if isinstance(value, float):
                    row[key] = min(1.0, max(0.0, value + rng.uniform(-0.03, 0.03)))
        primary = summary["leaderboard"][0]["roc_auc"]
        summary["primary_metric"] = f"roc_auc {primary:.4f} (test)"
        registers = i % 20 == 0 and not failed
        if registers:
            model_version += 1
            summary["model"] = f"churn v{model_version}"
            new_versions.append(
                {**version, "id": None, "version": model_version, "run_id": run_id,
                 "status": "candidate", "created_at": started + timedelta(seconds=20),
                 "metrics": {**version["metrics"], "roc_auc": primary}}
            )  # fmt: skip
            if model_version % 5 == 0:
                moves.append(
                    {"model_name": "churn", "alias": "champion", "action": "promote",
                     "from_version": model_version - 5, "to_version": model_version,
                     "reason": "bench", "actor": "rule:promotion",
                     "at": started + timedelta(seconds=21)}
                )  # fmt: skip
        else:
            summary.pop("model", None)
        new_runs.append(
            {**run, "id": run_id, "started_at": started,
             "finished_at": started + timedelta(seconds=run["duration_s"] or 5),
             "duration_s": (run["duration_s"] or 5) * rng.uniform(0.5, 2.0),
             "status": "failed" if failed else "succeeded",
             "error": "churn failed its gates: roc_auc below 0.9" if failed else None,
             "summary": summary}
        )  # fmt: skip
        for s in step_rows:
            new_steps.append(
                {**s, "id": next_step_id, "run_id": run_id, "started_at": started,
                 "finished_at": started + timedelta(seconds=1),
                 "status": "failed" if failed and s["name"] == "register" else s["status"]}
            )  # fmt: skip
            if s["id"] == collect_id:
                new_links.append({**raw_link, "step_id": next_step_id,
                                  "digest": digest_of_version[number]})  # fmt: skip
            next_step_id += 1

    def write(conn: sa.Connection) -> None:
        for table, rows in (
            (runs, new_runs),
            (steps, new_steps),
            (step_artifacts, new_links),
            (model_versions, [{k: v for k, v in r.items() if k != "id"} for r in new_versions]),
            (model_alias_history, moves),
        ):
            for start in range(0, len(rows), 2000):
                conn.execute(table.insert(), rows[start : start + 2000])
        if new_datasets:
            conn.execute(
                dataset_versions.insert(),
                [{k: v for k, v in r.items() if k != "id"} for r in new_datasets],
            )
        champion = conn.execute(
            sa.select(model_versions.c.id).where(model_versions.c.version == model_version)
        ).scalar_one()
        conn.execute(
            model_aliases.update()
            .where(model_aliases.c.alias == "champion")
            .values(model_version_id=champion)
        )

    store.transaction(write)
    return ids


def _monitor_windows(project: Any, *, hours: int) -> None:
    from conveyor.monitor._series import MetricRow, save_monitor_run

    rng = random.Random(3)
    features = [f"feature_{i:02d}" for i in range(20)]
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for h in range(hours):
        w_end = end - timedelta(hours=hours - h - 1)
        drifting = h > hours * 0.8
        rows = [
            MetricRow("drift.share", 0.3 if drifting else 0.05),
            MetricRow("performance.accuracy", 0.8 - (0.05 if drifting else 0) + rng.uniform(-0.01, 0.01)),
            MetricRow("performance.labels", float(rng.randint(50, 400))),
            MetricRow("latency.p50_ms", 1.1), MetricRow("latency.p95_ms", 2.4),
            MetricRow("latency.p99_ms", 4.8), MetricRow("errors.rate", 0.0),
            MetricRow("fallback.rate", 0.01),
        ]  # fmt: skip
        for i, column in enumerate(features):
            hot = drifting and i < 6
            rows.append(
                MetricRow(
                    "drift.statistic",
                    rng.uniform(0.2, 0.5) if hot else rng.uniform(0, 0.05),
                    column=column,
                )
            )
            rows.append(MetricRow("drift.drifted", 1.0 if hot else 0.0, column=column))  # fmt: skip
        save_monitor_run(
            project.metadata, model="churn", versions=[1], window_start=w_end - timedelta(hours=1),
            window_end=w_end, n_predictions=1400, n_labelled=300,
            summary={"task": "binary", "metrics": {"drift.share": 0.3 if drifting else 0.05}},
            rows=rows,
        )  # fmt: skip


def _predictions(root: Path, n: int) -> None:
    import numpy as np
    import polars as pl

    from conveyor.stores.prediction_log import LOG_FORMAT_KEY, default_log_root

    log = default_log_root(root)
    hours = 7 * 24
    per_hour = n // hours
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(11)
    for h in range(hours):
        hour = end - timedelta(hours=hours - h)
        for version, share in ((1, 0.9), (2, 0.1)):
            rows = int(per_hour * share) + (
                n - per_hour * hours if h == hours - 1 and version == 1 else 0
            )
            ts = [hour + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 3600, rows))]
            frame = pl.DataFrame(
                {
                    "prediction_id": [uuid.uuid4().hex for _ in range(rows)],
                    "model": ["churn"] * rows,
                    "version": [version] * rows,
                    "ts": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
                    "tenure": rng.integers(0, 72, rows),
                    "monthly_charges": rng.uniform(18, 120, rows),
                    "contract": rng.choice(["Month-to-month", "One year", "Two year"], rows),
                    "prediction": rng.choice(["No", "Yes"], rows),
                    "probabilities": ['{"No": 0.7, "Yes": 0.3}'] * rows,
                    "latency_ms": rng.gamma(2.0, 0.6, rows),
                    "fallback": rng.uniform(0, 1, rows) < 0.01,
                    "status": np.where(rng.uniform(0, 1, rows) < 0.002, "error", "ok"),
                }
            )
            folder = log / "churn" / f"v{version}" / hour.strftime("%Y-%m-%d") / hour.strftime("%H")
            folder.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(
                folder / f"part-{uuid.uuid4().hex}.parquet", metadata={LOG_FORMAT_KEY: "1"}
            )


def _serve(app: Any) -> tuple[Any, str]:
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def _time(fn: Any, repeat: int) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    fn()  # the first request: imports, cold caches
    first = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(samples), max(samples)


def measure(root: Path, repeat: int) -> list[tuple[str, float, float, float, int]]:
    import httpx

    import conveyor
    from conveyor.ui.app import create_ui_app

    sample = json.loads((root / MARKER).read_text())["sample"]
    a, b, c = sample[0], sample[1], sample[2]
    project = conveyor.Project(root)
    os.environ.pop("CONVEYOR_API_KEYS", None)
    server, base = _serve(create_ui_app(project, api_keys={}))
    client = httpx.Client(base_url=base, timeout=120)
    # The copied runs' summaries point at the template's evaluation report, which exists.
    paths = [
        "/api/runs",
        "/api/runs?sort=metric&order=desc",
        "/api/runs?sort=dataset&order=asc",
        "/api/runs?sort=model&order=asc",
        "/api/runs?status=failed&sort=metric",
        "/api/runs?model=churn&dataset=3",
        "/api/runs?page=150&per_page=50",
        "/runs",
        "/runs?sort=metric&order=desc&per_page=200",
        f"/api/runs/{a}",
        f"/runs/{a}",
        f"/api/runs/{a}/figures",
        f"/api/compare?runs={a},{b},{c}",
        f"/compare?runs={a},{b},{c}",
        f"/api/compare/figures?runs={a},{b},{c}",
        "/api/models",
        "/api/models/churn",
        "/models/churn",
        "/api/datasets",
        "/data",
        "/data/1?project=churn",
        "/api/traffic?hours=168",
        "/api/traffic/figures?hours=168",
        "/deployments?hours=168",
        "/api/monitoring?days=30",
        "/api/monitoring/figures?days=30",
        "/monitoring?days=30",
    ]
    results = []
    for path in paths:

        def get(path: str = path) -> int:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            return len(response.content)

        first, median, worst = _time(get, repeat)
        results.append(
            (
                f"GET {path.replace(a, 'RUN').replace(b, 'RUN2').replace(c, 'RUN3')}",
                first,
                median,
                worst,
                get(),
            )
        )

    # What a dashboard without database paging would do.
    def all_runs_sorted() -> int:
        rows = project.metadata.list_runs(limit=1_000_000)
        rows.sort(key=lambda r: -(r.summary.get("leaderboard") or [{}])[0].get("roc_auc", 0.0))
        return len(rows[:50])

    def whole_log() -> int:
        import polars as pl

        from conveyor.stores.prediction_log import PredictionLog, default_log_root

        log = PredictionLog(default_log_root(root))
        try:
            frame = log.scan().collect()
        finally:
            log.close()
        frame.group_by("version").agg(pl.len(), pl.col("latency_ms").quantile(0.95))
        return frame.height

    for label, fn in (
        ("naive: list_runs(all) + sort by metric in Python", all_runs_sorted),
        ("naive: PredictionLog.scan() whole log + aggregate", whole_log),
    ):
        first, median, worst = _time(fn, max(3, repeat // 5))
        results.append((label, first, median, worst, 0))
    server.should_exit = True
    project.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    root = WORK / "proj"
    marker = root / MARKER
    sizes = json.loads(marker.read_text()) if marker.exists() else {}
    if args.rebuild or (sizes.get("runs"), sizes.get("predictions")) != (
        args.runs,
        args.predictions,
    ):
        build(root, n_runs=args.runs, n_predictions=args.predictions)
    load = os.getloadavg()[0]
    results = measure(root, args.repeat)
    print(f"\n{args.runs:,} runs, {args.predictions:,} predictions; median of {args.repeat} "
          f"requests after a warm-up; load average {load:.1f}")  # fmt: skip
    print(f"| {'request':<62} | first ms | median ms | max ms | bytes |")
    print(f"|{'-' * 64}|---------:|----------:|-------:|------:|")
    for label, first, median, worst, size in results:
        print(f"| {label:<62} | {first:8.1f} | {median:9.1f} | {worst:6.1f} | {size:>5} |")


if __name__ == "__main__":
    main()
