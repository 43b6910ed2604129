"""``conveyor feedback import`` in a real project, through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor.stores.feedback import feedback_frame
from conveyor.stores.metadata import MetadataStore, default_metadata_url
from conveyor.stores.prediction_log import PredictionLog, default_log_root

SRC = Path(__file__).resolve().parents[3] / "src"
CONFIG = """
version: 1
project: churn
task: binary
target: churn
data:
  sources:
    - path: data/churn.csv
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_text("tenure,churn\n1,Yes\n5,No\n")
    (root / "conveyor.yaml").write_text(CONFIG, encoding="utf-8")
    return root


def conveyor(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("CONVEYOR_DB_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def log_predictions(root: Path, ids: list[str]) -> None:
    ts = datetime(2026, 11, 28, 9, tzinfo=UTC)
    with PredictionLog(default_log_root(root)) as log:
        log.append([{"prediction_id": i, "model": "churn", "version": 1, "ts": ts} for i in ids])


def test_import_a_csv_checks_ids_against_the_log(project: Path, tmp_path: Path) -> None:
    log_predictions(project, ["p1", "p2"])
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\np1,Yes\np2,No\nghost,Yes\n")
    proc = conveyor(
        tmp_path, "-C", str(project), "feedback", "import", str(labels),
        "--id-column", "id", "--actual-column", "label", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {
        "imported": 2, "updated": 0, "unchanged": 0, "unknown_ids": ["ghost"], "rows": 3,
        "unknown": 1,
    }  # fmt: skip
    assert "ghost" in proc.stderr and "not stored" in proc.stderr
    with MetadataStore(default_metadata_url(project)) as store:
        frame = feedback_frame(store).sort("prediction_id")
    assert frame.select("prediction_id", "model", "actual").rows() == [
        ("p1", "churn", "Yes"), ("p2", "churn", "No"),
    ]  # fmt: skip

    labels.write_text("id,label\np1,Yes\np2,Yes\n")
    again = conveyor(project, "feedback", "import", str(labels), "--id-column", "id",
                     "--actual-column", "label")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "2 rows: 0 imported, 1 updated, 1 unchanged, 0 unknown" in again.stdout


def test_without_a_log_every_row_is_stored_and_the_user_is_told(
    project: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("prediction_id,actual\na,1\nb,0\n")
    proc = conveyor(project, "feedback", "import", str(labels))
    assert proc.returncode == 0, proc.stderr
    assert "2 rows: 2 imported" in proc.stdout
    assert "no prediction log" in proc.stdout
    assert not default_log_root(project).exists()  # importing never creates a log


def test_a_missing_column_exits_2_naming_it(project: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("prediction_id,label\na,1\n")
    proc = conveyor(project, "feedback", "import", str(labels))
    assert proc.returncode == 2
    assert "no column 'actual'" in proc.stderr and "--actual-column" in proc.stderr
