"""HTTP serving, side by side: conveyor serve vs MLflow, BentoML, FastAPI + sklearn, bare ONNX.

Usage:
    .venv/bin/python bench/http_serve.py [--duration 10] [--repeat 3] [--concurrency 1,8]
        [--only conveyor,mlflow,bentoml,sklearn,bare] [--skip-install] [--retrain] [--profile]

One record per POST over loopback, driven by ``wrk -t1 -cN`` with
``bench/http/post.lua``; every server runs one worker process:

- ``conveyor``: ``conveyor serve --port P`` in a copy of examples/churn trained with
  ``conveyor run`` (bench/out/http/churn), defaults: validation, prediction log and metrics on;
- ``mlflow``: ``mlflow models serve --env-manager local -w 1`` of the same fitted pipeline,
  saved with ``mlflow.sklearn.save_model`` (skops) in bench/.venvs/mlflow;
- ``bentoml``: a BentoML service (bench/http/peer_bentoml.py) in bench/.venvs/bentoml;
- ``sklearn``: hand-written FastAPI endpoint, ``predict_proba`` on a one-row frame;
- ``bare``: hand-written FastAPI endpoint on the bundle's ONNX graph, nothing else.

Ablations, only when named in ``--only``: ``conveyor-nolog`` (``serve.log_predictions:
false``), ``conveyor-si`` (GIL switch interval 0.5 ms), ``mlflow-plain`` (MLflow on a
copy of the fitted pipeline without Conveyor's transformer classes).

Peers load the verified bundle's own files (model.skops, model.onnx). Every
server must answer the request with the probability the bundle's Python
pipeline gives (within 1e-4) before it is timed; each is warmed up with 3 s
of load. Servers run side by side and the measurements are interleaved
(round-robin, order rotated per repeat) so that load from other processes on
the machine hits them alike; the tables show medians over the repeats, and
each server's CPU time per request (its process tree's user + system time
over the wrk run), which that load disturbs far less than req/s and p99.
``--profile`` then samples ``conveyor serve`` and the bare endpoint under c=8:
CPU per thread from /proc, and py-spy (GIL holder only) by part of the request path.
Raw results: bench/out/http/results.json; server logs: bench/out/http/logs/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "bench" / "http"
OUT = REPO / "bench" / "out" / "http"
VENVS = REPO / "bench" / ".venvs"
EXAMPLE = REPO / "examples" / "churn"
PROJECT_BIN = REPO / ".venv" / "bin"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))

import harness  # noqa: E402
import peers  # noqa: E402
from harness import Running, Server, log  # noqa: E402

NAMES = ("conveyor", "mlflow", "bentoml", "sklearn", "bare")
EXTRA = ("conveyor-nolog", "conveyor-si", "mlflow-plain")  # ablations, only with --only
LABELS = {
    "conveyor": "conveyor serve",
    "conveyor-nolog": "conveyor serve, log off",
    "conveyor-si": "conveyor serve, switchinterval 0.5 ms",
    "mlflow-plain": "mlflow, plain sklearn pipeline",
    "mlflow": "mlflow models serve",
    "bentoml": "BentoML",
    "sklearn": "FastAPI + sklearn",
    "bare": "FastAPI + ONNX (bare)",
}
TOLERANCE = 1e-4


# ---------------------------------------------------------------- the model


def train(project: Path, retrain: bool) -> None:
    """examples/churn copied to ``project`` and trained with ``conveyor run`` (once)."""
    if (project / ".conveyor").is_dir() and not retrain:
        log(f"reusing the trained project {project} (--retrain to train again)")
        return
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".conveyor"))
    log(f"training: conveyor run in {project}")
    with open(OUT / "train.log", "wb") as out:
        subprocess.run(
            [str(PROJECT_BIN / "conveyor"), "run"],
            cwd=project,
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def export(project: Path) -> dict[str, Any]:
    """Fetch and verify the champion's bundle; write model.json for the peers."""
    import conveyor
    from conveyor.bundle import BundleRuntime
    from conveyor.registry import fetch_bundle
    from conveyor.testing.churn import CHURN_RECORD

    opened = conveyor.Project(project)
    try:
        ref = f"{opened.config.model_name}@{opened.config.promotion.alias}"
        version = opened.registry.resolve(ref)
        bundle_dir = OUT / "bundle"
        shutil.rmtree(bundle_dir, ignore_errors=True)
        loaded = fetch_bundle(opened.artifacts, version, bundle_dir, onnx=True)
    finally:
        opened.close()
    manifest, sig = loaded.manifest, loaded.signature
    if manifest.model_format != "skops" or not manifest.onnx.present:
        raise SystemExit(
            f"the peers need a skops bundle with ONNX; got {manifest.model_format}, "
            f"onnx: {manifest.onnx.reason}"
        )
    record = dict(CHURN_RECORD)
    answer = BundleRuntime(loaded, use_onnx=False).predict_records([record])[0]
    code = OUT / "code"
    shutil.rmtree(code, ignore_errors=True)
    shutil.copytree(
        REPO / "src" / "conveyor", code / "conveyor", ignore=shutil.ignore_patterns("__pycache__")
    )
    config = {
        "model": f"{version.model_name} v{version.version} ({ref})",
        "estimator": type(loaded.pipeline.steps[-1][1]).__name__,
        "record": record,
        "classes": [str(c) for c in sig.classes or []],
        "positive": str(sig.positive_class),
        "expected": answer["probabilities"][str(sig.positive_class)],
        "skops": str(loaded.path / manifest.model_file),
        "trusted_types": list(manifest.trusted_types or []),
        "onnx": str(loaded.path / "model.onnx"),
        "onnx_output": manifest.onnx.output,
        "derived": dict(manifest.onnx.derived),
        "code_dir": str(code),
    }
    try:  # only the mlflow-plain ablation needs it; a failure becomes that row's reason
        config["plain"] = peers.write_plain_pipeline(loaded.pipeline, config)
    except Exception as exc:
        config["plain"] = {"error": f"{type(exc).__name__}: {exc}"}
    (OUT / "model.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return config


# ---------------------------------------------------------------- measuring


def bring_up(
    found: list[Server], config: dict[str, Any], skipped: dict[str, str], running: list[Running]
) -> None:
    """Start every server, wait until it is ready, check its answer; failures become skipped rows."""
    for server in found:
        run = harness.start(server, OUT / "logs")
        running.append(run)
    for run in list(running):
        name = run.server.name
        try:
            ready_s = harness.wait_ready(run)
            got = harness.check_answer(run, config["expected"], TOLERANCE)
            log(f"{name}: ready in {ready_s:.1f} s, P({config['positive']}) = {got:.6f}")
        except Exception as exc:
            log(f"{name} failed: {exc}")
            skipped[name] = f"failed: {str(exc).splitlines()[0][:160]}"
            harness.stop(run)
            running.remove(run)


def measure(
    running: list[Running],
    concurrency: list[int],
    duration: float,
    repeat: int,
    skipped: dict[str, str],
) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """wrk runs, round-robin over the servers (order rotated per repeat) after a warm-up.

    A server that dies or that wrk cannot drive is dropped with its reason in ``skipped``.
    """
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        r.server.name: {c: [] for c in concurrency} for r in running
    }
    failed: set[str] = set()

    def drive(run: Running, c: int, seconds: float) -> dict[str, Any] | None:
        name = run.server.name
        try:
            if not run.alive():
                raise RuntimeError(f"exited with code {run.proc.returncode}: {run.log_tail(5)}")
            return harness.run_wrk(run, c, seconds)
        except Exception as exc:
            log(f"{name} dropped: {exc}")
            skipped[name] = f"dropped during the run: {str(exc).splitlines()[0][:160]}"
            failed.add(name)
            runs.pop(name, None)
            return None

    for run in running:
        drive(run, max(concurrency), min(3.0, duration))
    time.sleep(2.0)  # deferred work of the warm-up (conveyor's log writer) ends before timing
    for rep in range(repeat):
        order = running[rep % len(running) :] + running[: rep % len(running)]
        for c in concurrency:
            for run in order:
                if run.server.name in failed:
                    continue
                result = drive(run, c, duration)
                if result is None:
                    continue
                runs[run.server.name][c].append(result)
                log(
                    f"rep {rep + 1}/{repeat} c={c} {run.server.name:<9} {result['rps']:8.0f} req/s "
                    f"p50 {result['p50_us'] / 1000:6.2f} ms p99 {result['p99_us'] / 1000:6.2f} ms "
                    f"errors {result['errors']}"
                )
                time.sleep(1.0)
    return runs


def profile(runs: list[Running], duration: float, python: Path) -> str:
    """Where each of ``runs`` spends its time at c=8: CPU per thread, and py-spy by part.

    Two views of the same wrk run:

    - CPU seconds per thread from /proc (user and system), per request: exact,
      and unaffected by other processes taking the cores;
    - py-spy samples of the thread holding the GIL (``--gil``): one worker runs
      one Python thread at a time, so that is the budget every request shares,
      and threads blocked in a timed wait (the alias poller, the log writer's
      queue) would otherwise count as busy. A GIL holder that the OS has
      descheduled still counts, so on a loaded machine these figures exceed the
      CPU figures; the split by part is what to read. Native work that releases
      the GIL (onnxruntime's kernels, Parquet writing) is not in these samples.
    """
    import profile_stacks

    rate = 500
    heads, profiles, cpu = [], {}, {}
    for run in runs:
        name = run.server.name
        raw = OUT / f"profile-{name}-c8.txt"
        cmd = [str(python.parent / "py-spy"), "record", "--pid", str(run.proc.pid), "--gil"]
        cmd += ["--nonblocking", "--rate", str(rate), "--format", "raw", "--output", str(raw)]
        cmd += ["--duration", str(round(duration) + 1)]  # covers the whole wrk run
        names = harness.thread_names(python.parent / "py-spy", run.proc.pid)
        sampler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)  # py-spy attaches
            before = harness.thread_cpu(run.proc.pid)
            result = harness.run_wrk(run, 8, duration)
            after = harness.thread_cpu(run.proc.pid)
            _, err = sampler.communicate(timeout=duration + 30)
        finally:
            if sampler.poll() is None:
                sampler.kill()
        if not raw.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
        profiles[name] = (raw, float(rate), int(result["requests"]))
        heads.append(
            f"{name}: wrk c=8 for {duration:.0f} s under py-spy --gil --nonblocking --rate {rate}: "
            f"{result['rps']:.0f} req/s, p50 {result['p50_us'] / 1000:.2f} ms, "
            f"p99 {result['p99_us'] / 1000:.2f} ms; raw stacks in {raw.relative_to(REPO)}"
        )
        cpu[name] = harness.cpu_table(before, after, names, int(result["requests"]))
    text = "\n".join(heads)
    for name, table in cpu.items():
        text += f"\n\n{name}\n{table}"
    text += "\n\n" + profile_stacks.compare(profiles)
    if "conveyor" in profiles:
        raw, rate_hz, requests = profiles["conveyor"]
        text += "\n\nconveyor serve: " + profile_stacks.report(raw, rate=rate_hz, requests=requests)
    return text


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="wrk runs per server and concurrency")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated connection counts")
    parser.add_argument(
        "--only", default=",".join(NAMES), help=f"subset of {','.join(NAMES + EXTRA)}"
    )
    parser.add_argument(
        "--skip-install", action="store_true", help="use the peer venvs as they are"
    )
    parser.add_argument("--retrain", action="store_true", help="train the churn copy again")
    parser.add_argument("--profile", action="store_true", help="py-spy conveyor and bare at c=8")
    args = parser.parse_args()
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(only) - set(NAMES + EXTRA))
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {', '.join(NAMES + EXTRA)}")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    if not Path(harness.WRK).exists():
        parser.error(f"{harness.WRK} is missing (apt-get install wrk)")
    (OUT / "logs").mkdir(parents=True, exist_ok=True)

    train(OUT / "churn", args.retrain)
    config = export(OUT / "churn")
    log(
        f"model {config['model']}: {config['estimator']}; P({config['positive']}) = {config['expected']:.6f}"
    )
    found, skipped = peers.servers(config, only, args.skip_install)
    spy_python = None
    if args.profile and "conveyor" in only:
        spy_python = harness.ensure_venv(
            VENVS / "tools",
            HERE / "requirements-tools.txt",
            [],
            base_python=peers.base_python(),
            skip=args.skip_install,
        )

    running: list[Running] = []
    load_start = os.getloadavg()[0]
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bring_up(found, config, skipped, running)
        runs = measure(running, concurrency, args.duration, args.repeat, skipped)
        profile_text = ""
        if spy_python is not None:
            targets = [r for r in running if r.server.name in ("conveyor", "bare")]
            profile_text = profile(targets, args.duration, spy_python)
    finally:
        for run in running:
            harness.stop(run)
        signal.signal(signal.SIGTERM, previous)

    import report

    notes = {r.server.name: r.server.note for r in running}
    text = report.tables(
        runs, skipped, notes, LABELS, only, concurrency, duration=args.duration, repeat=args.repeat
    )
    print(
        f"Model: {config['model']}, {config['estimator']}; one record per request, "
        f"{args.duration:g} s per wrk run, median of {args.repeat}; {date.today().isoformat()}, "
        f"{os.cpu_count()} cores, 1-min load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end\n"
    )
    print(text)
    if profile_text:
        print("\n## Profile\n\n```\n" + profile_text + "\n```")
    (OUT / "results.json").write_text(
        json.dumps(
            {"config": config, "runs": runs, "skipped": skipped, "profile": profile_text}, indent=1
        ),
        encoding="utf-8",
    )
    log(f"raw results in {OUT / 'results.json'}")
    required_missing = [n for n in skipped if n != "bentoml"]
    return 1 if required_missing else 0


if __name__ == "__main__":
    sys.exit(main())
