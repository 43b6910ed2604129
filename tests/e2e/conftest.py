"""Helpers to drive the ``conveyor`` command as a user would: a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("CONVEYOR_DB_URL", None)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``conveyor ARGS`` in a directory; returns the completed process."""

    def run(
        *args: str,
        cwd: Path,
        check: bool | int = True,
        timeout: float = 600,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "conveyor", *args],
            cwd=cwd,
            env={**_env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        expected = 0 if check is True else check
        if check is not False and proc.returncode != expected:
            raise AssertionError(
                f"conveyor {' '.join(args)} exited {proc.returncode}, expected {expected}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    return run


@pytest.fixture
def data_project(tmp_path: Path, churn_csv: Path) -> Path:
    """A project with only the data steps, on the real churn data."""
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    (root / "conveyor.yaml").write_text(
        """
version: 1
project: churn
task: binary
target: churn
positive_class: "Yes"
data:
  sources:
    - path: data/churn.csv
validate:
  on_violation: drop_rows
clean:
  - op: drop_duplicates
  - op: fill_missing
    strategy: median
    columns: [total_charges]
split:
  method: stratified
  train: 0.7
  validation: 0.15
  test: 0.15
""",
        encoding="utf-8",
    )
    return root
