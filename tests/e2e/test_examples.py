"""Every example under examples/ runs as documented (in a scratch copy)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", sorted(p.name for p in EXAMPLES.iterdir() if (p / "conveyor.yaml").exists())
)
def test_example_runs_end_to_end(cli, tmp_path: Path, name: str) -> None:
    work = tmp_path / name
    shutil.copytree(
        EXAMPLES / name, work, ignore=shutil.ignore_patterns(".conveyor", "schema.yaml", "reports")
    )
    doc = json.loads(cli("run", "--json", cwd=work).stdout)
    assert doc["status"] == "succeeded"
    assert all(s["status"] == "succeeded" for s in doc["steps"])
    if "report_html" in doc["summary"]:
        assert Path(doc["summary"]["report_html"]).exists()
        assert doc["summary"]["model"].endswith("v1")


def test_init_project_trains_a_model(cli, tmp_path: Path) -> None:
    cli("init", "starter", cwd=tmp_path)
    doc = json.loads(
        cli("run", "--json", "-o", "models.1.tune.n_trials=2", cwd=tmp_path / "starter").stdout
    )
    assert doc["status"] == "succeeded"
    assert doc["summary"]["model"] == "starter v1"
