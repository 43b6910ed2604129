"""Moving bundles between a directory, the artifact store and the registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conveyor.bundle import LoadedBundle
    from conveyor.registry._records import ModelVersion
    from conveyor.stores import ArtifactStore, MetadataStore

__all__ = ["BUNDLE_ARTIFACT_KIND", "PublishedBundle", "fetch_bundle", "publish_bundle"]

BUNDLE_ARTIFACT_KIND = "model_bundle"


@dataclass(frozen=True)
class PublishedBundle:
    """The two digests a model version records: the store's tree and the bundle's manifest."""

    bundle_digest: str
    manifest_digest: str


def publish_bundle(
    artifacts: ArtifactStore, directory: Path | str, *, store: MetadataStore | None = None
) -> PublishedBundle:
    """Verify the bundle at ``directory`` and store it as a tree; returns both digests.

    With ``store``, the tree is also catalogued as a ``model_bundle`` artifact.

    Example:
        >>> pub = publish_bundle(artifacts, info.path, store=store)  # doctest: +SKIP
        >>> registry.register("churn", bundle_digest=pub.bundle_digest,
        ...                   manifest_digest=pub.manifest_digest, ...)  # doctest: +SKIP
    """
    from conveyor.bundle import manifest_digest, verify_bundle

    manifest = verify_bundle(directory)
    digest = manifest_digest(directory)
    tree = artifacts.put_tree(directory)
    if store is not None:
        size = sum(entry.size for entry in manifest.files.values())
        store.record_artifact(tree, kind=BUNDLE_ARTIFACT_KIND, size=size, media_type=None)
    return PublishedBundle(bundle_digest=tree, manifest_digest=digest)


def fetch_bundle(
    artifacts: ArtifactStore, version: ModelVersion, dest: Path | str, *, onnx: bool = True
) -> LoadedBundle:
    """Materialise a registered version's bundle at ``dest`` and load it, verified.

    ``dest`` must be absent or empty. The manifest digest the registry recorded
    is checked before anything is deserialised.
    """
    from conveyor.bundle import load_bundle

    path = artifacts.get_tree(version.bundle_digest, dest)
    return load_bundle(path, expected_manifest_digest=version.manifest_digest, onnx=onnx)
