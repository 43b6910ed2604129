"""The model registry: versions, aliases (champion, challenger), promotion, rollback, history.

Example:
    >>> from conveyor.registry import Registry, decide_promotion
    >>> registry = Registry(store)  # doctest: +SKIP
    >>> registry.resolve("churn@champion")  # doctest: +SKIP
"""

from __future__ import annotations

from conveyor.registry._bundles import (
    BUNDLE_ARTIFACT_KIND,
    PublishedBundle,
    fetch_bundle,
    publish_bundle,
)
from conveyor.registry._git import git_commit_of
from conveyor.registry._promotion import PromotionAction, PromotionDecision, decide_promotion
from conveyor.registry._records import (
    AliasAction,
    AliasMove,
    ModelStatus,
    ModelSummary,
    ModelVersion,
)
from conveyor.registry._refs import ParsedRef, parse_ref
from conveyor.registry._registry import Registry
from conveyor.registry._tables import MODEL_STATUSES

__all__ = [
    "BUNDLE_ARTIFACT_KIND",
    "MODEL_STATUSES",
    "AliasAction",
    "AliasMove",
    "ModelStatus",
    "ModelSummary",
    "ModelVersion",
    "ParsedRef",
    "PromotionAction",
    "PromotionDecision",
    "PublishedBundle",
    "Registry",
    "decide_promotion",
    "fetch_bundle",
    "git_commit_of",
    "parse_ref",
    "publish_bundle",
]
