"""`conveyor monitor` over 1,000,000 logged predictions with feedback, versus a plain script.

Usage: .venv/bin/python bench/monitor_1m.py [--rows 1000000] [--repeat 3] [--rebuild]

Setup (kept in bench/out/monitor_1m and reused unless --rebuild or --rows changes):

1. a churn project (``conveyor.testing.churn.CHURN_LOGREG_CONFIG`` on the shared
   telco churn data) trained once: model ``churn`` v1 is the champion;
2. ``--rows`` predictions of v1 logged over the 7 days before 2026-11-28T00:00Z
   through ``PredictionLog`` (batches of 50,000 rows: a few segments per hour),
   inputs sampled from the churn data, the last 3 days with tenure and monthly
   charges shifted (so drift is found), real model outputs and probabilities;
3. feedback for every prediction in the metadata store (SQLite), stored as
   ``record_feedback`` stores it (JSON-encoded labels), in one bulk transaction.

Measured, median of ``--repeat`` runs:

- ``conveyor monitor churn --until 2026-11-28T00:00:00Z --window 7d`` as a
  process (CLI start, monitoring, storing the run, HTML + JSON reports): wall
  time, and its CPU time (user + system), which a busy machine inflates less;
- the same ``Project.monitor`` call in-process (the monitoring alone);
- a plain script doing a subset of the same work with Polars, sqlite3, NumPy
  and scikit-learn: read the log window, read and join the feedback, accuracy,
  precision, recall, F1, ROC AUC, latency percentiles and a PSI per numeric
  feature against the reference bins (no categorical drift, no quality, no
  slices, no storage, no report).

Target (issue #5): the CLI under 10 s on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
PYTHON = REPO / ".venv" / "bin" / "python"
WORK = REPO / "bench" / "out" / "monitor_1m"
CHURN = REPO.parent / "shared" / "datasets" / "telco_churn" / "wa_churn.csv"
END = datetime(2026, 11, 28, tzinfo=UTC)
WINDOW = timedelta(days=7)
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "NO_COLOR": "1"}
ENV.pop("CONVEYOR_DB_URL", None)


def build(rows: int) -> Path:
    """Train the project, log ``rows`` predictions and import feedback for all of them."""
    import numpy as np
    import polars as pl

    import conveyor
    from conveyor.registry import fetch_bundle
    from conveyor.stores.prediction_log import PredictionLog, default_log_root
    from conveyor.testing.churn import CHURN_LOGREG_CONFIG

    root = WORK / "proj"
    ready = WORK / "ready.json"
    if ready.is_file() and json.loads(ready.read_text())["rows"] == rows:
        return root
    import shutil

    shutil.rmtree(WORK, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(CHURN.read_bytes())
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG)
    started = time.perf_counter()
    with conveyor.Project(root) as project:
        project.run()
        version = project.registry.resolve("churn@champion")
        bundle = fetch_bundle(project.artifacts, version, Path(tempfile.mkdtemp()) / "bundle")
        data = pl.read_csv(root / "data" / "churn.csv", infer_schema_length=None)
        data = data.drop_nulls(subset=bundle.signature.input_names)
        names = bundle.signature.input_names
        rng = np.random.default_rng(5)
        sample = data[rng.integers(0, data.height, rows)]
        offsets = np.sort(rng.uniform(0, WINDOW.total_seconds(), rows))
        late = offsets > (WINDOW - timedelta(days=3)).total_seconds()
        sample = sample.with_columns(
            pl.when(pl.Series(late)).then(pl.col("tenure") + 20).otherwise(pl.col("tenure")),
            pl.when(pl.Series(late))
            .then(pl.col("monthly_charges") * 1.3)
            .otherwise(pl.col("monthly_charges")),
        )
        proba = bundle.predict_proba(sample.select(names).to_pandas())
        classes = [str(c) for c in bundle.signature.classes]
        labels = bundle.predict(sample.select(names).to_pandas())
        start = END - WINDOW
        ids = [f"p{i:08d}" for i in range(rows)]
        latency = rng.gamma(2.0, 1.5, rows)
        records = sample.select(names).to_dicts()
        with PredictionLog(default_log_root(root), batch_size=50_000) as log:
            for lo in range(0, rows, 50_000):
                hi = min(rows, lo + 50_000)
                log.append(
                    [
                        {
                            "prediction_id": ids[i],
                            "model": "churn",
                            "version": version.version,
                            "ts": start + timedelta(seconds=float(offsets[i])),
                            "inputs": records[i],
                            "prediction": str(labels[i]),
                            "probabilities": dict(zip(classes, proba[i].tolist(), strict=True)),
                            "latency_ms": float(latency[i]),
                            "fallback": bool(i % 97 == 0),
                        }
                        for i in range(lo, hi)
                    ]
                )
        logged = time.perf_counter()
        imported = _store_feedback(project.metadata, ids, sample["churn"].to_list())
    (WORK / "ready.json").write_text(
        json.dumps(
            {
                "rows": rows,
                "imported": imported,
                "log_s": round(logged - started, 1),
                "feedback_s": round(time.perf_counter() - logged, 1),
            }
        )
    )
    return root


def _store_feedback(store, ids: list[str], actuals: list[str]) -> int:
    """Bulk-insert feedback rows exactly as ``record_feedback`` stores them (JSON text labels).

    ``import_feedback`` commits every 1,000 rows (about 250 s for a million on
    SQLite); a setup step does not need that, one transaction does.
    """
    import sqlalchemy as sa

    from conveyor.stores._feedback_tables import feedback
    from conveyor.stores.feedback import encode_actual

    now = datetime.now(UTC)
    rows = [
        {"prediction_id": pid, "model": "churn", "actual": encode_actual(a, where="bench"),
         "received_at": now, "source": "import"}
        for pid, a in zip(ids, actuals, strict=True)
    ]  # fmt: skip

    def write(conn: sa.Connection) -> None:
        for lo in range(0, len(rows), 50_000):
            conn.execute(sa.insert(feedback), rows[lo : lo + 50_000])

    store.transaction(write)
    return len(rows)


def cli_once(root: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one ``conveyor monitor`` process."""
    import resource

    command = [str(PYTHON), "-m", "conveyor", "-C", str(root), "monitor", "churn",
               "--until", END.isoformat(), "--window", "7d"]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=ENV, capture_output=True, text=True)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"conveyor monitor failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def inprocess_once(root: Path) -> tuple[float, dict]:
    import conveyor

    with conveyor.Project(root) as project:
        started = time.perf_counter()
        result = project.monitor("churn", until=END, window="7d", store_results=False)
        took = time.perf_counter() - started
    return took, result.metrics()


def plain_script_once(root: Path) -> tuple[float, dict]:
    """The same core figures with Polars, sqlite3, NumPy and scikit-learn, no Conveyor."""
    started = time.perf_counter()
    import sqlite3

    import numpy as np
    import polars as pl
    from sklearn import metrics as skm

    files = sorted((root / ".conveyor" / "predictions" / "churn").glob("v*/*/*/part-*.parquet"))
    log = (
        pl.scan_parquet(files)
        .filter((pl.col("ts") >= END - WINDOW) & (pl.col("ts") < END))
        .select(
            [
                "prediction_id",
                "prediction",
                "probabilities",
                "latency_ms",
                "tenure",
                "monthly_charges",
                "total_charges",
            ]
        )
        .collect()
    )
    with sqlite3.connect(root / ".conveyor" / "conveyor.db") as conn:
        rows = conn.execute(
            "SELECT prediction_id, actual FROM feedback WHERE model = 'churn'"
        ).fetchall()
    feedback = pl.DataFrame(rows, schema=["prediction_id", "actual"], orient="row")
    joined = log.join(feedback, on="prediction_id", how="inner").with_columns(
        pl.col("actual").str.json_decode(pl.String),
        pl.col("probabilities").str.json_decode(pl.Struct({"No": pl.Float64, "Yes": pl.Float64})),
    )
    y = joined["actual"].to_numpy() == "Yes"
    pred = joined["prediction"].to_numpy() == "Yes"
    p_yes = joined["probabilities"].struct.field("Yes").to_numpy()
    figures = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, p_yes),
        **dict(
            zip(("p50", "p95", "p99"), np.percentile(log["latency_ms"].to_numpy(), [50, 95, 99]))
        ),
    }
    reference = json.loads(_reference_json(root))
    for column in ("tenure", "monthly_charges", "total_charges"):
        ref = reference["features"][column]
        edges = np.asarray(ref["bin_edges"])
        expected = np.asarray(ref["bin_counts"], dtype=float) + 0.5
        values = log[column].cast(pl.Float64).drop_nulls().to_numpy()
        idx = np.searchsorted(edges[1:-1], values, side="right")
        actual = np.bincount(idx, minlength=len(expected)).astype(float) + 0.5
        e, a = expected / expected.sum(), actual / actual.sum()
        figures[f"psi.{column}"] = float(np.sum((a - e) * np.log(a / e)))
    return time.perf_counter() - started, figures


def _reference_json(root: Path) -> str:
    import conveyor

    with conveyor.Project(root) as project:
        version = project.registry.resolve("churn@champion")
        entries = project.artifacts.tree_entries(version.bundle_digest)
        return project.artifacts.get_bytes(entries["reference.json"].digest).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.rebuild:
        (WORK / "ready.json").unlink(missing_ok=True)
    root = build(args.rows)
    setup = json.loads((WORK / "ready.json").read_text())
    cli = [cli_once(root) for _ in range(args.repeat)]
    inproc = [inprocess_once(root) for _ in range(args.repeat)]
    plain = [plain_script_once(root) for _ in range(args.repeat)]
    load = os.getloadavg()[0]
    print(f"\nmonitor over {setup['rows']:,} predictions with feedback "
          f"({setup['imported']:,} labels), window 7d; median of {args.repeat}; load {load:.1f}\n")  # fmt: skip
    print("| what | median s | runs |")
    print("|---|---:|---|")
    for name, times in (
        ("`conveyor monitor` process (CLI, store, HTML + JSON), wall", [w for w, _ in cli]),
        ("&nbsp; same, CPU time (user + system)", [c for _, c in cli]),
        ("`Project.monitor` in-process", [t for t, _ in inproc]),
        ("plain script (Polars + sqlite3 + sklearn, subset)", [t for t, _ in plain]),
    ):
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"| {name} | {statistics.median(times):.2f} | {runs} |")
    ours, theirs = inproc[-1][1], plain[-1][1]
    print("\nsame figures: accuracy {:.4f} vs {:.4f}, roc_auc {:.4f} vs {:.4f}, p95 {:.3f} vs {:.3f}"
          .format(ours["performance.accuracy"], theirs["accuracy"], ours["performance.roc_auc"],
                  theirs["roc_auc"], ours["latency.p95_ms"], theirs["p95"]))  # fmt: skip
    print(
        f"drift.share {ours['drift.share']}, PSI {', '.join(f'{k} {v:.3f}' for k, v in theirs.items() if k.startswith('psi'))}"
    )
    print(
        f"setup: training + logging {setup['log_s']} s, storing feedback {setup['feedback_s']} s (not timed above)"
    )


if __name__ == "__main__":
    main()
