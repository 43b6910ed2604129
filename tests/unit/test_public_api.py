"""The public API and the layering are deliberate: changing them fails a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import conveyor

REPO = Path(__file__).resolve().parents[2]


def test_exact_public_api() -> None:
    assert sorted(conveyor.__all__) == sorted(
        [
            "ConfigError",
            "ConveyorError",
            "DataError",
            "GateFailed",
            "ModelError",
            "NotFound",
            "Project",
            "SchemaError",
            "ServeError",
            "StoreError",
            "__version__",
            "load_config",
            "run",
        ]
    )
    for name in conveyor.__all__:
        assert getattr(conveyor, name) is not None


def test_layering_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_start_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, conveyor.cli.main;"
        "heavy = [m for m in ('sklearn', 'polars', 'pandas', 'optuna', 'fastapi', 'lightgbm', 'sqlalchemy')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "src")},
        check=True,
    ).stdout.strip()
    assert out == "[]"
