"""The Dask executor (issue #7) against the local executor, on the flights data.

Usage:
    .venv/bin/python bench/dask_vs_local.py [--repeat 3] [--rows 3000000] [--parts 8]
        [--trials 8] [--tune-rows 50000] [--rebuild]

Set-up (once, cached under ``bench/out/dask_vs_local/``; ``--rebuild`` redoes it):
the project of ``bench/flights/conveyor.yaml`` (LightGBM, one-hot origin and
destination, date parts) trained in-process on 100,000 rows sampled from
``../shared/datasets/flights/flights-3m.parquet`` (``delayed`` = delay > 15 min),
and the first ``--rows`` rows of that file cut into ``--parts`` Parquet parts.

Measured, median of ``--repeat`` runs, each side in this process:

- batch scoring of the parts (``score_file`` on the directory, chunks of
  100,000 rows): local executor (parts one after another, 2 scoring threads
  each) versus a ``LocalCluster`` of 2 worker processes x 1 thread (one part per
  task); also ``score_file`` on one file of the same rows (the path
  ``conveyor score`` takes for a single file). Rows per second; the cluster's
  start-up and its first job (imports and the bundle loaded on each worker)
  are reported apart, not charged to the runs;
- tuning: ``tune`` of LightGBM (100 rounds, early stopping, a 3-parameter TPE
  space, ``--trials`` trials, SQLite storage) on ``--tune-rows`` training rows:
  local (trials one after another, LightGBM on all cores, the default), local
  with LightGBM on 1 thread (what each Dask trial uses: separates the gain of
  running two trials at once from OpenMP's cost on a busy machine) and the
  cluster (a batch of trials per worker). Trials per minute.

This machine has 2 cores shared with other work: expect the cluster to gain
little or lose (two processes, pickling, a SQLite study shared by two
writers). The script prints the load average so noisy runs can be spotted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
OUT = REPO / "bench" / "out" / "dask_vs_local"
CONFIG = REPO / "bench" / "flights" / "conveyor.yaml"
FLIGHTS = REPO.parent / "shared" / "datasets" / "flights" / "flights-3m.parquet"
TRAIN_ROWS = 100_000


def build(rows: int, parts: int, *, rebuild: bool) -> Path:
    """The trained project and the partitioned input (cached while the options are unchanged)."""
    import polars as pl

    from conveyor.project import Project

    stamp = {"rows": rows, "parts": parts, "config": CONFIG.read_text(), "train": TRAIN_ROWS}
    stamp_file = OUT / "stamp.json"
    if not rebuild and stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return OUT / "flights"
    shutil.rmtree(OUT, ignore_errors=True)
    project = OUT / "flights"
    (project / "data").mkdir(parents=True)
    shutil.copy(CONFIG, project / "conveyor.yaml")
    frame = pl.read_parquet(FLIGHTS)
    train = frame.sample(TRAIN_ROWS, seed=42).with_columns(
        delayed=pl.when(pl.col("delay") > 15).then(pl.lit("yes")).otherwise(pl.lit("no"))
    )
    train.drop("delay").write_parquet(project / "data" / "flights-train.parquet")
    print(f"set-up: training on {TRAIN_ROWS:,} rows", file=sys.stderr)
    with Project(project) as proj:
        proj.run(command="bench set-up")
    scored = frame.head(rows).drop("delay")
    scored.write_parquet(OUT / "all.parquet")
    (OUT / "parts").mkdir()
    size = -(-scored.height // parts)
    for i, part in enumerate(scored.iter_slices(n_rows=size)):
        part.write_parquet(OUT / "parts" / f"part-{i:03d}.parquet")
    stamp_file.write_text(json.dumps(stamp))
    return project


def time_scoring(project: Path, input_path: Path, client: Any) -> tuple[float, int]:
    from conveyor.project import Project
    from conveyor.serve.batch import score_file

    target = OUT / ("scored-dir" if input_path.is_dir() else "scored.parquet")
    shutil.rmtree(target, ignore_errors=True)
    target.unlink(missing_ok=True)
    with Project(project) as proj:
        version = proj.registry.resolve("flights@champion")
        started = time.perf_counter()
        result = score_file(version, proj.artifacts, input=str(input_path), output=str(target),
                            chunk_rows=100_000, workers=2, resume=False, client=client)  # fmt: skip
        return time.perf_counter() - started, result.rows_in


def tuning_inputs(project: Path, rows: int) -> dict[str, Any]:
    import polars as pl

    from conveyor.features import build_preprocessor, detect_column_types
    from conveyor.project import Project

    with Project(project) as proj:
        cfg = proj.config
    frame = pl.read_parquet(project / "data" / "flights-train.parquet").head(rows)
    types = detect_column_types(frame, target=cfg.target, id_column=None, config=cfg.features)
    cut = int(frame.height * 0.8)
    X = frame.drop(cfg.target).to_pandas()
    y = frame[cfg.target].to_numpy()
    return {
        "preprocessor": build_preprocessor(cfg.features, types, task="binary", seed=42),
        "X_train": X.iloc[:cut].reset_index(drop=True),
        "y_train": y[:cut],
        "X_valid": X.iloc[cut:].reset_index(drop=True),
        "y_valid": y[cut:],
        "task": "binary",
        "seed": 42,
    }


def time_tuning(
    inputs: dict[str, Any], trials: int, client: Any, name: str, threads: int | None
) -> tuple[float, float]:
    from conveyor.config.models import ModelSpec, SearchParam, TuneConfig
    from conveyor.train import tune

    space = {
        "num_leaves": SearchParam(type="int", low=8, high=64),
        "learning_rate": SearchParam(type="float", low=0.03, high=0.3, log=True),
        "min_child_samples": SearchParam(type="int", low=5, high=100),
    }
    params: dict[str, Any] = {"n_estimators": 100, "verbose": -1}
    if threads is not None:
        params["n_jobs"] = threads
    spec = ModelSpec(estimator="lightgbm", params=params,
                     early_stopping_rounds=20, tune=TuneConfig(n_trials=trials, space=space))  # fmt: skip
    storage = f"sqlite:///{OUT / 'optuna.db'}"
    started = time.perf_counter()
    result = tune(spec, primary_metric="roc_auc", storage=storage, study_name=name,
                  client=client, **inputs)  # fmt: skip
    assert result.n_new_trials == trials, result.n_new_trials
    return time.perf_counter() - started, result.best_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--tune-rows", type=int, default=50_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--skip-scoring", action="store_true", help="measure tuning only")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    project = build(args.rows, args.parts, rebuild=args.rebuild)
    (OUT / "optuna.db").unlink(missing_ok=True)
    inputs = tuning_inputs(project, args.tune_rows)
    started = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
    client = Client(cluster)
    startup = time.perf_counter() - started
    logging.getLogger("lightgbm").setLevel(logging.ERROR)
    runs: dict[str, list[float]] = {k: [] for k in ("one file", "parts local", "parts dask")}
    variants = {
        "local": (None, None),
        "local, LightGBM 1 thread": (None, 1),
        "dask": ("dask", None),
    }
    tuning: dict[str, list[float]] = {k: [] for k in variants}
    best: dict[str, list[float]] = {k: [] for k in variants}
    rows = 0
    try:
        # The first job on a fresh cluster pays for imports and loading the bundle on every
        # worker: shown apart, as the cluster's start-up is.
        cold = 0.0 if args.skip_scoring else time_scoring(project, OUT / "parts", client)[0]
        for rep in range(args.repeat):
            for label, path, use in () if args.skip_scoring else (("one file", OUT / "all.parquet", None),
                                     ("parts local", OUT / "parts", None),
                                     ("parts dask", OUT / "parts", client)):  # fmt: skip
                seconds, rows = time_scoring(project, path, use)
                runs[label].append(seconds)
            for label, (where, threads) in variants.items():
                use = client if where else None
                name = f"{label}-{rep}"
                seconds, value = time_tuning(inputs, args.trials, use, name, threads)
                tuning[label].append(seconds)
                best[label].append(value)
            print(f"repetition {rep + 1}/{args.repeat} done; load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr)  # fmt: skip
    finally:
        client.close()
        cluster.close()
    print(f"\nflights: {rows:,} rows in {args.parts} parts; load average {os.getloadavg()}; "
          f"LocalCluster(2 workers x 1 thread) start-up {startup:.1f} s and first scoring job "
          f"{cold:.1f} s (imports, bundle loaded on each worker), not in the runs\n")  # fmt: skip
    print(f"{'batch scoring':<34}{'median s':>10}{'rows/s':>12}  runs (s)")
    for label, values in runs.items() if not args.skip_scoring else ():
        med = statistics.median(values)
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"{label:<34}{med:>10.1f}{rows / med:>12,.0f}  {shown}")
    print(f"\n{'tuning (' + str(args.trials) + ' trials, ' + format(args.tune_rows, ',') + ' rows)':<34}"
          f"{'median s':>10}{'trials/min':>12}  best ROC AUC per run")  # fmt: skip
    for label, values in tuning.items():
        med = statistics.median(values)
        shown = ", ".join(f"{v:.4f}" for v in best[label])
        print(f"{label:<34}{med:>10.1f}{args.trials * 60 / med:>12.1f}  {shown}")


if __name__ == "__main__":
    main()
