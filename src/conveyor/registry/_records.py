"""Immutable records the registry returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["AliasAction", "AliasMove", "ModelStatus", "ModelSummary", "ModelVersion"]

ModelStatus = Literal["candidate", "rejected", "challenger", "champion", "archived"]
AliasAction = Literal["set", "promote", "rollback", "remove"]


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model.

    Attributes:
        id: database id (stable, unique across models).
        model_name: registry name.
        version: 1, 2, 3… per model name.
        status: candidate | rejected | challenger | champion | archived.
        run_id: the run that trained it.
        dataset_version: the dataset version it was trained on.
        config_fingerprint: fingerprint of the config that produced it.
        git_commit: commit of the project at training time, when it is a git repo.
        bundle_digest: artifact-store tree digest of the bundle directory.
        manifest_digest: sha256 of the bundle's ``manifest.json`` (checked on load).
        metrics: evaluation metrics.
        gates: gate results.
        description: free text.
        created_at: registration time (UTC).
        tags: key -> value.
        aliases: aliases pointing at this version.
    """

    id: int
    model_name: str
    version: int
    status: str
    run_id: str | None
    dataset_version: str | None
    config_fingerprint: str | None
    git_commit: str | None
    bundle_digest: str
    manifest_digest: str
    metrics: dict[str, Any]
    gates: Any
    description: str
    created_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name:version``, accepted by :meth:`Registry.resolve`."""
        return f"{self.model_name}:{self.version}"


@dataclass(frozen=True)
class AliasMove:
    """One change of an alias: set, promote, rollback or remove."""

    model_name: str
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class ModelSummary:
    """A registered model name with its version count and aliases."""

    name: str
    versions: int
    latest_version: int
    aliases: dict[str, int]
    updated_at: datetime

    @property
    def champion(self) -> int | None:
        return self.aliases.get("champion")
