"""Response and request models of the dashboard's JSON API (they make its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "ActionResult",
    "AliasMoveOut",
    "CanaryIn",
    "CompareOut",
    "CompareRow",
    "DatasetDetail",
    "DatasetPage",
    "DatasetRow",
    "DeploymentOut",
    "DeploymentsOut",
    "FailedStep",
    "FigureOut",
    "FiguresOut",
    "Lineage",
    "ModelDetail",
    "ModelRow",
    "ModelsOut",
    "MonitoringOut",
    "PromoteIn",
    "RollbackIn",
    "RunDetail",
    "RunPage",
    "RunRow",
    "StepOut",
    "TrafficOut",
    "TrafficRow",
    "VersionOut",
]


class RunRow(BaseModel):
    """One run in the list: what it was, how it went, what it made."""

    id: str
    project: str
    kind: str
    status: str
    model: str | None = Field(None, description="'<model> v<version>' the run registered")
    primary_metric: str | None = Field(None, description="name of the primary metric")
    primary_value: float | None = Field(None, description="its value on the test split")
    dataset_version: int | None = None
    duration_s: float | None = None
    started_at: datetime
    error: str | None = Field(None, description="error headline of a failed run")


class RunPage(BaseModel):
    """A page of runs, sorted and filtered in the database."""

    total: int = Field(description="runs matching the filters")
    page: int
    per_page: int
    pages: int
    sort: str
    order: str
    items: list[RunRow]


class StepOut(BaseModel):
    name: str
    position: int
    status: str
    cached: bool
    duration_s: float | None
    rows_in: int | None
    rows_out: int | None
    error: str | None
    warnings: list[str]
    notes: list[str]


class FailedStep(BaseModel):
    name: str
    error: str


class Lineage(BaseModel):
    """dataset version -> run -> model version."""

    dataset_version: int | None = None
    dataset_digest: str | None = None
    dataset_rows: int | None = None
    dataset_columns: int | None = None
    run_id: str
    model_name: str | None = None
    model_version: int | None = None
    model_status: str | None = None
    model_aliases: list[str] = []


class RunDetail(BaseModel):
    """Everything the run page shows."""

    run: RunRow
    finished_at: datetime | None
    command: str | None
    code_version: str | None
    config_fingerprint: str
    host: str | None
    parent_run_id: str | None
    steps: list[StepOut]
    failed_step: FailedStep | None
    params: dict[str, Any] = Field(description="the run's config flattened to dotted keys")
    metrics: dict[str, float | None] = Field(description="test metrics of the winning model")
    leaderboard: list[dict[str, Any]] = Field(description="every candidate on the test split")
    validation_leaderboard: list[dict[str, Any]] = Field(
        description="candidates ranked on the validation split"
    )
    lineage: Lineage
    report_json: str | None = Field(None, description="where the evaluation report JSON lives")
    report_available: bool = False


class FigureOut(BaseModel):
    """One Plotly figure (``data`` and ``layout``), drawn by the bundled plotly.js."""

    id: str
    title: str
    figure: dict[str, Any]


class FiguresOut(BaseModel):
    figures: list[FigureOut]
    notes: list[str] = []


class CompareRow(BaseModel):
    """One parameter or metric across the compared runs."""

    key: str
    values: list[Any]
    differs: bool
    best: int | None = Field(None, description="index of the best run for a metric")


class CompareOut(BaseModel):
    runs: list[RunRow]
    params: list[CompareRow]
    metrics: list[CompareRow]


class AliasMoveOut(BaseModel):
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    reason: str
    actor: str
    at: datetime


class VersionOut(BaseModel):
    version: int
    status: str
    aliases: list[str]
    run_id: str | None
    dataset_version: str | None
    created_at: datetime
    primary_value: float | None
    gates_passed: bool | None = Field(None, description="None when no gate was recorded")
    gates: list[dict[str, Any]]
    description: str


class ModelRow(BaseModel):
    name: str
    versions: int
    latest_version: int
    aliases: dict[str, int]
    updated_at: datetime


class ModelsOut(BaseModel):
    models: list[ModelRow]


class ModelDetail(BaseModel):
    name: str
    primary_metric: str | None
    aliases: dict[str, int]
    total_versions: int
    page: int
    per_page: int
    versions: list[VersionOut]
    history: list[AliasMoveOut] = Field(description="alias moves, newest first")
    canary: dict[str, Any] | None = Field(None, description="canary share override, when set")


class PromoteIn(BaseModel):
    version: int = Field(ge=1, description="version to make the champion")
    reason: str = Field(min_length=1, max_length=2000, description="goes into the alias history")
    force: bool = Field(False, description="promote a version that failed its gates")


class RollbackIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class CanaryIn(BaseModel):
    traffic: float | None = Field(
        ge=0.0, le=1.0, description="share of requests for the challenger; null clears the override"
    )


class ActionResult(BaseModel):
    model: str
    action: str
    champion_version: int | None = None
    canary_traffic: float | None = None
    actor: str
    message: str


class DatasetRow(BaseModel):
    project: str
    version: int
    digest: str
    rows: int
    columns: int
    run_id: str | None
    created_at: datetime
    used_by_runs: int = Field(description="runs whose collect step produced this version")


class DatasetPage(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    items: list[DatasetRow]


class DatasetDetail(BaseModel):
    dataset: DatasetRow
    schema_: dict[str, str] = Field(alias="schema", serialization_alias="schema")
    source: dict[str, Any]
    validation: dict[str, Any] | None = Field(
        None, description="validation report of the run that recorded this version"
    )
    validation_rows_in: int | None = None
    validation_rows_out: int | None = None
    recent_runs: list[RunRow]

    model_config = {"populate_by_name": True}


class TrafficRow(BaseModel):
    """Predictions of one model version in the window, from the prediction log."""

    model: str
    version: int
    predictions: int
    per_hour: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    error_rate: float
    fallback_rate: float


class TrafficOut(BaseModel):
    hours: int
    total: int
    rows: list[TrafficRow]


class DeploymentOut(BaseModel):
    """One server, from its last heartbeat (rates over the last heartbeat interval)."""

    server_id: str
    status: str = Field(description="running, lost (no recent heartbeat) or stopped")
    host: str
    pid: int
    address: str | None = None
    model: str
    model_ref: str
    champion_version: int | None = None
    challenger_version: int | None = None
    canary_share: float | None = None
    request_rate: float | None = Field(None, description="requests per second")
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    error_rate: float | None = None
    fallback_rate: float | None = None
    started_at: datetime
    last_seen: datetime
    stale: bool = False


class DeploymentsOut(BaseModel):
    available: bool = Field(description="whether servers' heartbeats are recorded")
    note: str | None = None
    servers: list[DeploymentOut]


class MonitoringOut(BaseModel):
    available: bool
    note: str | None = None
    model: str | None = None
    models: list[str] = []
    runs: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    firings: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
