"""What monitoring needs to know about registered versions, read without loading a model.

Only the bundle's JSON files (``signature.json``, ``reference.json``,
``metrics.json``) are read, straight from the artifact store's tree of the
version: the store checks each file against its content digest and the tree
digest is the one the registry recorded, and JSON is never executed, so no
pickled model is opened here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.bundle import Signature
from conveyor.errors import ModelError

if TYPE_CHECKING:
    from conveyor.registry import Registry
    from conveyor.stores.artifacts import ArtifactStore

__all__ = ["VersionInfo", "load_version_info", "pick_primary"]

_FILES = ("signature.json", "reference.json", "metrics.json")


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as monitoring sees it.

    Attributes:
        version: the version number.
        registered_at: when it was registered (UTC).
        signature: its inputs, outputs and classes.
        reference: its training reference statistics (``reference.json``).
        metrics: its offline evaluation metrics.
    """

    version: int
    registered_at: datetime
    signature: Signature
    reference: dict[str, Any]
    metrics: dict[str, Any]


def load_version_info(
    registry: Registry, artifacts: ArtifactStore, model: str, version: int
) -> VersionInfo:
    """Read one version's registry record and bundle JSON files.

    Raises:
        NotFound: the model or version is not registered.
        ModelError: the bundle lacks one of its JSON files or they cannot be read.
    """
    record = registry.get(model, int(version))
    entries = artifacts.tree_entries(record.bundle_digest)
    documents: dict[str, Any] = {}
    for name in _FILES:
        entry = entries.get(name)
        if entry is None:
            raise ModelError(
                f"{model} v{version}: the bundle (tree {record.bundle_digest[:12]}) has no {name}"
            )
        try:
            documents[name] = json.loads(artifacts.get_bytes(entry.digest))
        except ValueError as exc:
            raise ModelError(f"{model} v{version}: cannot read the bundle's {name}: {exc}") from exc
    try:
        signature = Signature.model_validate(documents["signature.json"])
    except ValueError as exc:
        raise ModelError(f"{model} v{version}: signature.json is not valid: {exc}") from exc
    return VersionInfo(
        version=record.version,
        registered_at=record.created_at,
        signature=signature,
        reference=documents["reference.json"],
        metrics=documents["metrics.json"],
    )


def pick_primary(logged: list[int], serving: int | None) -> int | None:
    """The version whose reference and signature the window is judged by.

    The serving alias's version when it answered in the window, else the newest
    version that did, else the serving version (an empty window).
    """
    if serving is not None and (serving in logged or not logged):
        return serving
    return max(logged) if logged else None
