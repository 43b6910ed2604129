"""Markdown tables for bench/http_serve.py: one per concurrency, ratios, and the issue's targets.

Targets (Conveyor issue #4): at least 20x MLflow's throughput, at least 0.7x the
bare ONNX endpoint's throughput, p99 under 5 ms at 8 concurrent connections.

Each ratio is also given by CPU per request (the server process group's user +
system time over a wrk run, divided by its requests): other processes on the
machine swing req/s and p99 by 2x or more, CPU per request far less, and with
one worker saturating one core the two ratios agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

MLFLOW_FACTOR = 20.0
BARE_FACTOR = 0.7
P99_MS = 5.0
P99_AT = 8


def _median(runs: Sequence[Mapping[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Medians over the repeats (latencies in ms), the req/s range and the summed errors."""
    return {
        "rps": _median(runs, "rps"),
        "rps_min": min(float(r["rps"]) for r in runs),
        "rps_max": max(float(r["rps"]) for r in runs),
        "p50_ms": _median(runs, "p50_us") / 1000.0,
        "p99_ms": _median(runs, "p99_us") / 1000.0,
        "cpu_us": _median(runs, "cpu_us"),
        "errors": float(sum(int(r["errors"]) for r in runs)),
        "requests": float(sum(int(r["requests"]) for r in runs)),
    }


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def targets(stats: Mapping[str, Mapping[str, float]], c: int) -> list[str]:
    """The ratio lines under one concurrency's table."""
    lines = []
    conveyor = stats.get("conveyor")
    if conveyor is None:
        return ["(conveyor not measured: no ratios)"]
    for peer, label, factor in (
        ("mlflow", "MLflow", MLFLOW_FACTOR),
        ("mlflow-plain", "MLflow on the plain-sklearn copy", None),
        ("bare", "bare ONNX", BARE_FACTOR),
        ("bentoml", "BentoML", None),
        ("sklearn", "FastAPI + sklearn", None),
    ):
        other = stats.get(peer)
        if other is None or other["rps"] <= 0:
            continue
        ratio = conveyor["rps"] / other["rps"]
        goal = f" (target >= {factor:g}x: {_verdict(ratio >= factor)})" if factor else ""
        cpu = other["cpu_us"] / conveyor["cpu_us"] if conveyor["cpu_us"] > 0 else float("nan")
        lines.append(
            f"- conveyor / {label} throughput: {ratio:.2f}x{goal}; by CPU per request: {cpu:.2f}x"
        )
    if c == P99_AT:
        p99 = conveyor["p99_ms"]
        lines.append(
            f"- conveyor p99 at c={c}: {p99:.2f} ms (target < {P99_MS:g} ms: {_verdict(p99 < P99_MS)})"
        )
    return lines


def tables(
    runs: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]],
    skipped: Mapping[str, str],
    notes: Mapping[str, str],
    labels: Mapping[str, str],
    order: Sequence[str],
    concurrency: Sequence[int],
    *,
    duration: float,
    repeat: int,
) -> str:
    """All tables as markdown."""
    out = []
    for c in concurrency:
        out.append(f"### c = {c} ({repeat} x {duration:g} s per server)\n")
        out.append(
            "| server | req/s | req/s range | p50 ms | p99 ms | CPU µs/req | errors | notes |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---|")
        stats: dict[str, dict[str, float]] = {}
        for name in order:
            label = labels.get(name, name)
            if name in runs and runs[name].get(c):
                s = stats[name] = summary(runs[name][c])
                out.append(
                    f"| {label} | {s['rps']:.0f} | {s['rps_min']:.0f}-{s['rps_max']:.0f} | "
                    f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['cpu_us']:.0f} | {s['errors']:.0f} "
                    f"of {s['requests']:.0f} | {notes.get(name, '')} |"
                )
            elif name in skipped:
                out.append(f"| {label} | - | - | - | - | - | - | {skipped[name]} |")
        out.append("")
        out.extend(targets(stats, c))
        out.append("")
    return "\n".join(out)
