"""``data.include_feedback``: labelled feedback becomes training rows, and the cache sees it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import conveyor
from conveyor.errors import ConfigError
from conveyor.stores.feedback import record_feedback
from conveyor.stores.prediction_log import PredictionLog, default_log_root

CONFIG: dict[str, Any] = {
    "project": "shop",
    "task": "binary",
    "target": "bought",
    "data": {"sources": [{"name": "visits", "path": "data/visits.csv"}]},
    "validate": {"on_violation": "drop_rows"},
    "split": {"method": "random", "train": 0.6, "validation": 0.2, "test": 0.2},
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    lines = ["visit_id,pages,source,bought"] + [
        f"v{i},{i % 7 + 1},{'ad' if i % 3 else 'search'},{'yes' if i % 4 == 0 else 'no'}"
        for i in range(60)
    ]
    (tmp_path / "data" / "visits.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def project(root: Path, *, include: bool) -> conveyor.Project:
    data = {
        **CONFIG,
        "data": {**CONFIG["data"], "include_feedback": include},
        "id_column": "visit_id",
    }
    return conveyor.Project.from_mapping(data, root=root)


def steps(run: Any) -> dict[str, str]:
    return {s.name: s.status for s in run.steps}


def collect_of(run: Any) -> Any:
    return next(s for s in run.steps if s.name == "collect")


def serve(root: Path, labelled: dict[str, str], unlabelled: int = 2) -> None:
    """What a server and feedback would leave: logged requests, some with ground truth."""
    rows = [
        {"prediction_id": pid, "model": "shop", "version": 1, "ts": datetime.now(UTC),
         "inputs": {"pages": 9, "source": "email"}, "prediction": "no"}
        for pid in [*labelled, *(f"u{i}" for i in range(unlabelled))]
    ]  # fmt: skip
    with PredictionLog(default_log_root(root), flush_interval_s=60) as log:
        log.append(rows)
        log.flush(timeout=10)
    with project(root, include=True) as opened:
        for pid, actual in labelled.items():
            record_feedback(opened.metadata, prediction_id=pid, actual=actual, model="shop")


def test_feedback_rows_enter_the_dataset_and_change_its_version(root: Path) -> None:
    with project(root, include=True) as opened:
        first = opened.run()
    assert collect_of(first).rows_out == 60
    assert collect_of(first).metrics["feedback_rows"] == 0

    serve(root, {"p1": "yes", "p2": "no", "p3": "yes"})
    with project(root, include=True) as opened:
        second = opened.run()
        raw = second.load("raw")
    collect = collect_of(second)
    assert collect.status == "succeeded" and collect.rows_out == 63
    assert collect.metrics["feedback_rows"] == 3
    assert any("3 labelled prediction(s) added" in n for n in collect.notes)
    added = raw.filter(raw["visit_id"].is_in(["p1", "p2", "p3"])).sort("visit_id")
    assert added["bought"].to_list() == ["yes", "no", "yes"]
    assert added["pages"].to_list() == [9, 9, 9] and added["source"].to_list() == ["email"] * 3
    assert collect.outputs["raw"] != collect_of(first).outputs["raw"]
    assert steps(second)["validate"] == "succeeded"  # new data: nothing downstream is reused

    # no new feedback: collect reads again (the store is not a file it can stamp), finds the
    # same rows, and everything after it is reused
    with project(root, include=True) as opened:
        third = opened.run()
    assert collect_of(third).status == "succeeded"
    assert collect_of(third).outputs["raw"] == collect.outputs["raw"]
    assert steps(third)["validate"] == "cached" and steps(third)["split"] == "cached"

    # a changed label is new data too
    serve(root, {"p2": "yes"}, unlabelled=0)
    with project(root, include=True) as opened:
        fourth = opened.run()
    assert collect_of(fourth).outputs["raw"] != collect.outputs["raw"]


def test_without_include_feedback_nothing_changes(root: Path) -> None:
    serve(root, {"p1": "yes"})
    with project(root, include=False) as opened:
        first = opened.run()
        again = opened.run()
    assert collect_of(first).rows_out == 60 and "feedback_rows" not in collect_of(first).metrics
    assert steps(again)["collect"] == "cached"
    # turning it on is a config change of collect
    with project(root, include=True) as opened:
        turned_on = opened.run()
    assert collect_of(turned_on).fingerprint != collect_of(first).fingerprint
    assert collect_of(turned_on).rows_out == 61


def test_include_feedback_needs_the_project_services(root: Path) -> None:
    from conveyor.pipeline.runner import Runner
    from conveyor.pipeline.steps import DATA_STEPS

    with project(root, include=True) as opened:
        runner = Runner(loaded=opened.loaded, metadata=opened.metadata,
                        artifacts=opened.artifacts, steps=list(DATA_STEPS))  # fmt: skip
        result = runner.run()
    assert result.status == "failed"
    assert isinstance(result.exception, ConfigError)
    assert "data.include_feedback: true needs the project's feedback" in str(result.exception)
