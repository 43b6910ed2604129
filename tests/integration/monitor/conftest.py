"""A registered churn model (trained once per session) and helpers that log its predictions."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import conveyor
from conveyor.testing.churn import CHURN_LOGREG_CONFIG


@dataclass
class ChurnScorer:
    """The champion's runtime and the churn rows to score (inputs and true labels)."""

    runtime: Any
    inputs: list[dict[str, Any]]
    truth: list[str]

    def rows(
        self,
        n: int,
        *,
        start: datetime,
        step: timedelta,
        version: int = 1,
        shift: dict[str, Any] | None = None,
        logged: dict[str, Any] | None = None,
        status: str = "ok",
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """``n`` log rows and their truth: churn rows ``offset``…, inputs overridden by ``shift``.

        ``logged`` overrides inputs in the log only, after scoring (what a server
        with ``strict_categories: false`` would log for categories it does not know).
        """
        records = [
            {**self.inputs[(offset + i) % len(self.inputs)], **(shift or {})} for i in range(n)
        ]
        outputs = self.runtime.predict_records(records)
        rows = [
            {
                "prediction_id": uuid.uuid4().hex,
                "model": "churn",
                "version": version,
                "ts": start + i * step,
                "inputs": {**record, **(logged or {})},
                "prediction": out["label"],
                "probabilities": out["probabilities"],
                "latency_ms": 1.0 + (i % 10),
                "fallback": i % 25 == 0,
                "status": status,
            }
            for i, (record, out) in enumerate(zip(records, outputs, strict=True))
        ]
        truth = [self.truth[(offset + i) % len(self.truth)] for i in range(n)]
        return rows, truth


@pytest.fixture(scope="session")
def registered_churn(tmp_path_factory: pytest.TempPathFactory, churn_csv: Path) -> Path:
    """A project with churn v1 (champion) trained on the real data."""
    root = tmp_path_factory.mktemp("monitor") / "proj"
    (root / "data").mkdir(parents=True)
    (root / "data" / "churn.csv").write_bytes(churn_csv.read_bytes())
    (root / "conveyor.yaml").write_text(CHURN_LOGREG_CONFIG)
    with conveyor.Project(root) as project:
        project.run()
    return root


@pytest.fixture(scope="session")
def churn_scorer(registered_churn: Path, tmp_path_factory: pytest.TempPathFactory) -> ChurnScorer:
    from conveyor.registry import fetch_bundle

    with conveyor.Project(registered_churn) as project:
        version = project.registry.resolve("churn@champion")
        bundle = fetch_bundle(project.artifacts, version, tmp_path_factory.mktemp("b") / "bundle")
    data = pl.read_csv(registered_churn / "data" / "churn.csv", infer_schema_length=None)
    names = bundle.signature.input_names
    data = data.drop_nulls(subset=names).sample(fraction=1.0, shuffle=True, seed=1)
    return ChurnScorer(
        runtime=bundle.runtime(),
        inputs=data.select(names).to_dicts(),
        truth=data["churn"].to_list(),
    )


@pytest.fixture
def project_root(registered_churn: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the registered project (its own store, log and reports)."""
    dest = tmp_path / "proj"
    shutil.copytree(registered_churn, dest)
    yield dest
