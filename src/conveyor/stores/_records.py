"""Immutable records returned by the metadata store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "RUN_STATUSES",
    "STEP_STATUSES",
    "ArtifactRecord",
    "DatasetVersionRecord",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "StepStatus",
]

RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
StepStatus = Literal["running", "succeeded", "failed", "skipped", "interrupted"]
RUN_STATUSES: frozenset[str] = frozenset({"running", "succeeded", "failed", "interrupted"})
STEP_STATUSES: frozenset[str] = frozenset(
    {"running", "succeeded", "failed", "skipped", "interrupted"}
)


@dataclass(frozen=True)
class RunRecord:
    """One pipeline run (or another kind of recorded job: ``tune``, ``score``, ``retrain``)."""

    id: str
    project: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    config: dict[str, Any]
    config_fingerprint: str
    code_version: str | None
    command: str | None
    error: str | None
    summary: dict[str, Any]
    pid: int | None
    host: str | None
    parent_run_id: str | None


@dataclass(frozen=True)
class StepRecord:
    """One step of a run; ``inputs``/``outputs`` map names to artifact digests."""

    id: int
    run_id: str
    name: str
    position: int
    status: str
    fingerprint: str
    cached: bool
    inputs: dict[str, str]
    outputs: dict[str, str]
    rows_in: int | None
    rows_out: int | None
    duration_s: float | None
    metrics: dict[str, Any]
    notes: list[str]
    warnings: list[str]
    error: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class DatasetVersionRecord:
    """A dataset version: numbered 1, 2, 3… per project, addressed by its content digest."""

    id: int
    project: str
    version: int
    digest: str
    rows: int
    columns: int
    schema: dict[str, Any]
    source: dict[str, Any]
    run_id: str | None
    created_at: datetime

    @property
    def label(self) -> str:
        """``v3`` style label used in the CLI and reports."""
        return f"v{self.version}"


@dataclass(frozen=True)
class ArtifactRecord:
    """What the metadata store knows about one blob of the artifact store."""

    digest: str
    kind: str
    size: int
    media_type: str | None
    created_at: datetime
