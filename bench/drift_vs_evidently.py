"""Drift statistics: Conveyor versus Evidently's data drift preset (and plain SciPy) on the same frames.

Usage:
    .venv/bin/python bench/drift_vs_evidently.py [--rows 200000,1000000] [--repeat 3]
        [--peer-repeat 1] [--ks-mode] [--skip-install] [--out bench/out/drift_vs_evidently.json]

Data: 20 columns, seeded (the same arrays on every side): 12 numeric (normal,
lognormal, exponential, uniform, Poisson counts, a bimodal mixture, a
zero-inflated amount, ...) and 8 categorical (3 to 60 categories, as text).
Reference and current are independent draws of the same generator, except five
columns of the current frame:

    num_00  mean shift, +0.5 std
    num_01  scale change, x1.6 around the mean
    num_02  missing-rate jump: the top 30% of values go missing (as a failing sensor would)
    cat_00  category mix change (50/30/20 -> 30/30/40)
    cat_01  a new category in 25% of the rows

The other 15 columns are unchanged: any drift verdict on them is a false alarm.

Sides, each run in its own subprocess (fresh interpreter, peak RSS of its own):

- ``conveyor``: ``conveyor.monitor.drift_between_frames(reference, current)`` on Polars
  frames (defaults: Wasserstein / Jensen-Shannon above 1000 rows), project venv.
- ``evidently``: ``Report([DataDriftPreset()]).run(current, reference)``, Evidently 0.7.23
  with pandas<3 in bench/.venvs/evidently (created here; 0.7.23 does not import with
  pandas 3). Pandas frames, text as object columns sharing one str object per category.
- ``evidently-ks`` (``--ks-mode``): the same preset with ``num_method="ks",
  cat_method="chisquare"``.
- ``scipy``: a plain loop, ``scipy.stats.wasserstein_distance`` / std and a
  Jensen-Shannon distance of ``np.unique`` counts, thresholds 0.1 (Evidently's
  defaults, without sample-size or missing-value handling).

Timing covers the drift call only (data generation and imports excluded). Peak RSS
is the process high-water mark after the data exist (Linux ``clear_refs`` 5 resets it
before the call), so it counts the frames plus what the drift computation adds; the
RSS with the data alone is shown beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROJECT_PYTHON = REPO / ".venv" / "bin" / "python"
EVIDENTLY_VENV = REPO / "bench" / ".venvs" / "evidently"
EVIDENTLY_PINS = ("evidently==0.7.23", "pandas<3")
SHIFTED = ("num_00", "num_01", "num_02", "cat_00", "cat_01")
N_NUMERIC, N_CATEGORICAL = 12, 8
SEED = 20261129
# Evidently stat tests whose score is a p-value (drift when below the threshold); the
# others (Wasserstein, Jensen-Shannon, PSI, ...) are distances (drift at or above it).
_P_VALUE_METHODS = {"ks", "chisquare", "z", "fisher_exact", "g_test", "cramer_von_mises",
                    "anderson", "mannw", "t_test", "epps_singleton", "empirical_mmd"}  # fmt: skip

# ---------------------------------------------------------------- data (runs in every child)


def make_columns(rows: int, *, current: bool) -> dict[str, Any]:
    """Column name -> numpy array (float64 with NaN, or int codes + category names)."""
    import numpy as np

    rng = np.random.default_rng([SEED, int(current)])
    out: dict[str, Any] = {}
    numeric = [
        lambda: rng.normal(50.0, 10.0, rows),
        lambda: rng.normal(0.0, 1.0, rows),
        lambda: rng.normal(100.0, 15.0, rows),
        lambda: rng.lognormal(3.0, 0.8, rows),
        lambda: rng.exponential(2.0, rows),
        lambda: rng.uniform(-1.0, 1.0, rows),
        lambda: rng.poisson(4.0, rows).astype(np.float64),
        lambda: np.where(rng.random(rows) < 0.4, rng.normal(-2, 0.5, rows), rng.normal(3, 1, rows)),
        lambda: np.where(rng.random(rows) < 0.6, 0.0, rng.gamma(2.0, 50.0, rows)),
        lambda: rng.standard_t(5, rows),
        lambda: rng.beta(2.0, 5.0, rows),
        lambda: rng.integers(18, 90, rows).astype(np.float64),
    ]
    for i, draw in enumerate(numeric):
        out[f"num_{i:02d}"] = draw()
    sizes = (3, 4, 5, 8, 12, 20, 40, 60)
    for i, k in enumerate(sizes):
        names = [f"c{i}_{j:02d}" for j in range(k)]
        if i == 0:
            p = np.array([0.5, 0.3, 0.2])
        else:
            p = 1.0 / np.arange(1, k + 1)
            p /= p.sum()
        out[f"cat_{i:02d}"] = (rng.choice(k, rows, p=p).astype(np.int32), names)
    if current:
        x = out["num_00"]
        out["num_00"] = x + 0.5 * x.std()
        x = out["num_01"]
        out["num_01"] = x.mean() + (x - x.mean()) * 1.6
        x = out["num_02"]
        out["num_02"] = np.where(x > np.quantile(x, 0.7), np.nan, x)
        out["cat_00"] = (rng.choice(3, rows, p=[0.3, 0.3, 0.4]).astype(np.int32), out["cat_00"][1])
        codes, names = out["cat_01"]
        new = rng.random(rows) < 0.25
        out["cat_01"] = (np.where(new, len(names), codes).astype(np.int32), [*names, "c1_new"])
    return out


def polars_frame(columns: dict[str, Any]) -> Any:
    import polars as pl

    series = []
    for name, value in columns.items():
        if isinstance(value, tuple):
            codes, names = value
            series.append(pl.Series(name, names, dtype=pl.String).gather(codes))
        else:
            series.append(pl.Series(name, value).fill_nan(None))
    return pl.DataFrame(series)


def pandas_frame(columns: dict[str, Any]) -> Any:
    import numpy as np
    import pandas as pd

    data = {}
    for name, value in columns.items():
        if isinstance(value, tuple):
            codes, names = value
            data[name] = np.array(names, dtype=object)[codes]  # one str object per category
        else:
            data[name] = value
    return pd.DataFrame(data)


# ---------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- sides (child process)


def run_conveyor(rows: int) -> tuple[float, set[str]]:
    import scipy.stats  # noqa: F401  imported lazily by the drift code: excluded like Evidently's imports

    from conveyor.monitor import drift_between_frames

    ref = polars_frame(make_columns(rows, current=False))
    cur = polars_frame(make_columns(rows, current=True))
    _ready()
    started = time.perf_counter()
    report = drift_between_frames(ref, cur)
    return time.perf_counter() - started, set(report.drifted_columns())


def run_evidently(rows: int, *, ks: bool) -> tuple[float, set[str]]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref = pandas_frame(make_columns(rows, current=False))
    cur = pandas_frame(make_columns(rows, current=True))
    preset = DataDriftPreset(num_method="ks", cat_method="chisquare") if ks else DataDriftPreset()
    _ready()
    started = time.perf_counter()
    snapshot = Report([preset]).run(current_data=cur, reference_data=ref)
    seconds = time.perf_counter() - started
    drifted, counted = set(), None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("DriftedColumnsCount"):
            counted = int(metric["value"]["count"])
            continue
        if "column" not in config:
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        method = str(config["method"]).lower()
        is_p_value = "p_value" in method or method in _P_VALUE_METHODS
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.add(config["column"])
    if counted is not None and counted != len(drifted):
        raise RuntimeError(f"parsed {len(drifted)} drifted columns, Evidently counted {counted}")
    return seconds, drifted


def run_scipy(rows: int) -> tuple[float, set[str]]:
    import numpy as np
    import scipy.stats  # noqa: F401
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    ref, cur = make_columns(rows, current=False), make_columns(rows, current=True)
    _ready()
    started = time.perf_counter()
    drifted = set()
    for name, a in ref.items():
        b = cur[name]
        if isinstance(a, tuple):
            names = sorted(set(a[1]) | set(b[1]))
            ra = np.array(a[1], dtype=object)[a[0]]
            rb = np.array(b[1], dtype=object)[b[0]]
            ua, ca = np.unique(ra.astype(str), return_counts=True)
            ub, cb = np.unique(rb.astype(str), return_counts=True)
            p = np.array([dict(zip(ua, ca, strict=True)).get(k, 0) for k in names], float)
            q = np.array([dict(zip(ub, cb, strict=True)).get(k, 0) for k in names], float)
            score = jensenshannon(p / p.sum(), q / q.sum())
        else:
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            score = wasserstein_distance(a, b) / max(np.std(a), 1e-3)
        if score >= 0.1:
            drifted.add(name)
    return time.perf_counter() - started, drifted


_BASE_KB = [0]


def _ready() -> None:
    import gc

    gc.collect()
    _BASE_KB[0] = _status_kb("VmRSS")
    _reset_peak()


def child(side: str, rows: int) -> None:
    if side == "conveyor":
        seconds, drifted = run_conveyor(rows)
    elif side == "evidently":
        seconds, drifted = run_evidently(rows, ks=False)
    elif side == "evidently-ks":
        seconds, drifted = run_evidently(rows, ks=True)
    else:
        seconds, drifted = run_scipy(rows)
    peak_kb = _status_kb("VmHWM")
    print(json.dumps({"seconds": seconds, "drifted": sorted(drifted),
                      "peak_mb": peak_kb / 1024, "data_mb": _BASE_KB[0] / 1024}))  # fmt: skip


# ---------------------------------------------------------------- parent


def ensure_evidently(skip: bool) -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        "import evidently, pandas; assert evidently.__version__ == '0.7.23'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    if skip:
        raise SystemExit(f"--skip-install: no working Evidently in {EVIDENTLY_VENV}")
    print(
        f"creating {EVIDENTLY_VENV} with {' '.join(EVIDENTLY_PINS)} (a minute or two)", flush=True
    )
    subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *EVIDENTLY_PINS],
        check=True,
    )
    return python


def measure(python: Path, side: str, rows: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONHASHSEED": "0"}
    cmd = [str(python), str(Path(__file__).resolve()), "--child", side, "--rows", str(rows)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} at {rows} rows failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="200000,1000000")
    parser.add_argument("--repeat", type=int, default=3, help="runs of conveyor and scipy")
    parser.add_argument("--peer-repeat", type=int, default=1, help="runs of each Evidently side")
    parser.add_argument("--ks-mode", action="store_true", help="also Evidently with KS/chi-square")
    parser.add_argument("--no-scipy", action="store_true")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "out" / "drift_vs_evidently.json"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, int(args.rows))
        return
    evidently = ensure_evidently(args.skip_install)
    sides = [("conveyor", PROJECT_PYTHON, args.repeat), ("evidently", evidently, args.peer_repeat)]
    if args.ks_mode:
        sides.append(("evidently-ks", evidently, args.peer_repeat))
    if not args.no_scipy:
        sides.append(("scipy", PROJECT_PYTHON, args.repeat))
    results: list[dict[str, Any]] = []
    for rows in (int(r) for r in args.rows.split(",")):
        for side, python, repeat in sides:
            runs = []
            for i in range(repeat):
                runs.append(measure(python, side, rows))
                print(f"  {side:13s} {rows:>9,} rows  run {i + 1}/{repeat}: "
                      f"{runs[-1]['seconds']:.2f} s, peak {runs[-1]['peak_mb']:.0f} MB", flush=True)  # fmt: skip
            drifted = {tuple(r["drifted"]) for r in runs}
            if len(drifted) != 1:
                raise RuntimeError(f"{side} gave different verdicts across runs: {drifted}")
            verdict = set(runs[0]["drifted"])
            results.append({
                "tool": side, "rows": rows,
                "seconds": statistics.median(r["seconds"] for r in runs),
                "seconds_all": [round(r["seconds"], 3) for r in runs],
                "peak_mb": max(r["peak_mb"] for r in runs),
                "data_mb": statistics.median(r["data_mb"] for r in runs),
                "shifted_found": sorted(verdict & set(SHIFTED)),
                "false_alarms": sorted(verdict - set(SHIFTED)),
            })  # fmt: skip
    report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(f"{'tool':14s} {'rows':>10s} {'seconds':>9s} {'peak RSS':>9s} {'data RSS':>9s} "
          f"{'shifted':>8s} {'false alarms':>13s}")  # fmt: skip
    for r in results:
        print(f"{r['tool']:14s} {r['rows']:>10,} {r['seconds']:>9.2f} {r['peak_mb']:>7.0f}MB "
              f"{r['data_mb']:>7.0f}MB {len(r['shifted_found']):>6d}/5 "
              f"{len(r['false_alarms']):>9d}/15  {' '.join(r['false_alarms'])}")  # fmt: skip
    print()
    by = {(r["tool"], r["rows"]): r for r in results}
    targets = []
    for rows in sorted({r["rows"] for r in results}):
        ours, peer = by.get(("conveyor", rows)), by.get(("evidently", rows))
        if not ours or not peer:
            continue
        speed = peer["seconds"] / ours["seconds"]
        memory = ours["peak_mb"] / peer["peak_mb"]
        same = ours["shifted_found"] == peer["shifted_found"]
        print(f"{rows:,} rows: conveyor is {speed:.1f}x faster than Evidently's default preset; "
              f"peak RSS {memory:.2f} of Evidently's; shifted columns found: conveyor "
              f"{len(ours['shifted_found'])}/5, Evidently {len(peer['shifted_found'])}/5 "
              f"({'same' if same else 'different'} verdicts)")  # fmt: skip
        if rows >= 1_000_000:
            checks = {
                ">= 30x faster": speed >= 30,
                "<= half the peak memory": memory <= 0.5,
                "all 5 shifted columns found": len(ours["shifted_found"]) == 5,
                "same verdicts as Evidently on the shifted columns": same,
                "no false alarm": not ours["false_alarms"],
            }
            targets += [f"  [{'x' if ok else ' '}] {name}" for name, ok in checks.items()]
    if targets:
        print("targets at 1M rows:")
        print("\n".join(targets))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    args.out.write_text(json.dumps({"results": results, "load_1min": load}, indent=2) + "\n")
    print(f"\n1-min load average at the end: {load:.1f}; results in {args.out}")


if __name__ == "__main__":
    main()
