"""CLI start time: `conveyor --help` and `conveyor run --help` versus a bare interpreter.

Usage: .venv/bin/python bench/cli_startup.py [--repeat 15]
Prints a table of median / min / max wall time over repeated cold process starts.
Target (issue 2): both under 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def measure(cmd: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    conveyor = str(BIN / "conveyor")
    cases = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "conveyor --help": [conveyor, "--help"],
        "conveyor run --help": [conveyor, "run", "--help"],
        "conveyor config check --help": [conveyor, "config", "check", "--help"],
    }
    measure([conveyor, "--help"], 2)  # warm the OS file cache
    print(f"{'command':<32} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label, cmd in cases.items():
        t = measure(cmd, args.repeat)
        print(f"{label:<32} {statistics.median(t):>9.3f} {min(t):>7.3f} {max(t):>7.3f}")
    print(f"\n{args.repeat} runs each, {os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
