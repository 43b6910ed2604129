"""In-process prediction latency: the serving fast path versus the raw scikit-learn pipeline.

Usage:
    .venv/bin/python bench/predict_inprocess.py [--project DIR] [--calls 2000] [--model churn@champion]

Without ``--project``, examples/churn (conveyor.yaml, schema.yaml, data/) is
copied to a temporary directory and trained there with
``conveyor run -o models.1.tune.n_trials=2``; with it, the project's
registered model is used as is.

Rows come from the project's data (target dropped), as JSON-like records.
Per call, timed with ``perf_counter_ns``:

- ``onnx runtime``: ``BundleRuntime.predict_records([record])`` on the ONNX
  path (validation, derived features per record, onnxruntime, formatting);
- ``python runtime``: the same on the Python path (validation, a pandas frame,
  the pipeline);
- ``sklearn pipeline``: ``pipeline.predict_proba`` on a prebuilt one-row pandas
  frame (no validation, no formatting: the floor of the Python path);
- batches of 64 records through both runtimes, reported per record.

A last table compares the runtime's two ways of computing derived features
for a batch (``transform_record`` per record versus the step's ``transform``
on a pandas frame of the columns it reads), which sets ``_DERIVED_FRAME_FROM``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "churn"
sys.path.insert(0, str(REPO / "src"))


def _train(root: Path) -> Path:
    project = root / "churn"
    project.mkdir()
    for name in ("conveyor.yaml", "schema.yaml"):
        shutil.copy(EXAMPLE / name, project / name)
    shutil.copytree(EXAMPLE / "data", project / "data")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [str(REPO / ".venv" / "bin" / "conveyor"), "run", "-o", "models.1.tune.n_trials=2"]
    print(f"training: {' '.join(cmd[1:])} in {project}", file=sys.stderr)
    subprocess.run(cmd, cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
    return project


def _records(project: Path, config: Any, runtime: Any, n: int) -> list[dict[str, Any]]:
    import polars as pl

    from conveyor.features import to_model_frame

    source = config.data.sources[0]
    frame = pl.read_csv(project / source.path, infer_schema_length=None).drop(config.target)
    rows = to_model_frame(frame).to_dict("records")
    out = []
    for row in rows:
        record = {k: _plain(v) for k, v in row.items()}
        if not runtime.validate([record])[1]:
            out.append(record)
        if len(out) == n:
            break
    return out


def _plain(value: Any) -> Any:
    """A JSON-like value: numpy scalars as Python ones, NaN as None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def _time(fn: Any, args: list[Any]) -> list[float]:
    for a in args[:50]:  # warm up
        fn(a)
    out = []
    clock = time.perf_counter_ns
    for a in args:
        start = clock()
        fn(a)
        out.append((clock() - start) / 1000.0)
    return out


def _row(name: str, micros: list[float], per: int = 1) -> str:
    values = sorted(m / per for m in micros)
    median = statistics.median(values)
    p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
    return f"{name:<42} {median:>10.1f} {p99:>10.1f} {len(values):>7}"


def _derived_table(fast: Any, records: list[dict[str, Any]]) -> None:
    """The runtime's two ways to compute derived features, on validated columns."""
    from conveyor.bundle import runtime as runtime_module

    header = "derived features, per record (µs)"
    print(f"\n{header:<42} {'median':>10} {'p99':>10} {'calls':>7}")
    saved = runtime_module._DERIVED_FRAME_FROM
    try:
        for size in (1, 64, 256, 1024):
            groups = [records[i : i + size] for i in range(0, len(records) - size + 1, size)]
            groups = (groups * (200 // len(groups) + 1))[:200]
            columns = [fast.validate(g)[0] for g in groups]
            for label, threshold in (("transform_record loop", 10**9), ("transform on a frame", 0)):
                runtime_module._DERIVED_FRAME_FROM = threshold
                micros = _time(fast._with_derived, columns)
                print(_row(f"{label}, batch of {size}", micros, size))
    finally:
        runtime_module._DERIVED_FRAME_FROM = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a trained project (default: train one)")
    parser.add_argument("--model", default="churn@champion")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    import conveyor
    from conveyor.bundle import BundleRuntime
    from conveyor.registry import fetch_bundle

    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp:
        root = Path(tmp)
        project_dir = args.project or _train(root)
        project = conveyor.Project(project_dir)
        version = project.registry.resolve(args.model)
        loaded = fetch_bundle(project.artifacts, version, root / "bundle", onnx=True)
        fast, slow = BundleRuntime(loaded), BundleRuntime(loaded, use_onnx=False)
        records = _records(project_dir, project.config, slow, args.calls)
        frames = [slow._validator.frame(slow.validate([r])[0]) for r in records]
        pipeline = loaded.pipeline
        estimator = type(pipeline.steps[-1][1]).__name__
        onnx = loaded.manifest.onnx
        print(
            f"model {version.model_name} v{version.version} ({estimator}); fast path engine: "
            f"{fast.engine}; onnx.derived: {sorted(onnx.derived)}; "
            f"max |ONNX - Python| {onnx.max_abs_diff}"
        )
        if fast.engine != "onnx":
            print(f"  ONNX not used: {onnx.reason}")
        print(f"\n{'per-record latency (µs)':<42} {'median':>10} {'p99':>10} {'calls':>7}")
        print(
            _row(
                f"{fast.engine} runtime, 1 record",
                _time(lambda r: fast.predict_records([r]), records),
            )
        )
        print(_row("python runtime, 1 record", _time(lambda r: slow.predict_records([r]), records)))
        print(_row("sklearn pipeline, 1-row frame", _time(pipeline.predict_proba, frames)))
        batches = [records[i : i + 64] for i in range(0, len(records) - 63, 64)] * 4
        print(
            _row(
                f"{fast.engine} runtime, batch of 64, per record",
                _time(fast.predict_records, batches),
                64,
            )
        )
        print(
            _row(
                "python runtime, batch of 64, per record", _time(slow.predict_records, batches), 64
            )
        )

        if fast._derived is not None:
            _derived_table(fast, records)
        print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
