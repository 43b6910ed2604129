"""A bundle's whole trip: save -> artifact store -> registry -> fetch, verified on the way back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor.bundle import build_reference, build_signature, save_bundle
from conveyor.errors import ModelError, StoreError
from conveyor.registry import Registry, fetch_bundle, publish_bundle
from conveyor.stores import ArtifactStore, MetadataStore


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = np.where(X["a"] + 0.3 * rng.normal(size=80) > 0, "yes", "no")
    model = LogisticRegression().fit(X, y)
    info = save_bundle(
        model,
        tmp_path / "bundle",
        signature=build_signature(X, task="binary", target="t", classes=list(model.classes_)),
        reference=build_reference(X, model.predict(X), numeric=["a", "b"], categorical=[], seed=0),
        metrics={"roc_auc": 0.9},
        run_id="run000000001",
        dataset_version="1",
        config_fingerprint="fp",
        model_name="toy",
        X_check=X.head(20),
    )
    return info.path


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore.from_url(None, root=tmp_path / "project")


def test_publish_register_fetch_round_trip(
    bundle_dir: Path,
    artifacts: ArtifactStore,
    store: MetadataStore,
    registry: Registry,
    tmp_path: Path,
) -> None:
    published = publish_bundle(artifacts, bundle_dir, store=store)
    assert published.bundle_digest != published.manifest_digest
    assert store.get_artifact(published.bundle_digest).kind == "model_bundle"
    version = registry.register(
        "toy",
        bundle_digest=published.bundle_digest,
        manifest_digest=published.manifest_digest,
        run_id="run000000001",
        dataset_version="1",
        config_fingerprint="fp",
        metrics={"roc_auc": 0.9},
        gates={},
        status="champion",
    )
    loaded = fetch_bundle(artifacts, registry.resolve("toy@champion"), tmp_path / "served")
    assert loaded.manifest_digest == version.manifest_digest
    out = loaded.runtime().predict_records([{"a": 2.0, "b": 0.0}, {"a": -2.0, "b": 0.0}])
    assert [o["label"] for o in out] == ["yes", "no"]
    # gc keeps every file of a registered bundle
    result = artifacts.gc(store.referenced_digests())
    assert result.removed == []
    assert artifacts.tree_children(published.bundle_digest) <= set(artifacts.digests())


def test_fetch_refuses_a_bundle_that_is_not_the_registered_one(
    bundle_dir: Path, artifacts: ArtifactStore, registry: Registry, tmp_path: Path
) -> None:
    published = publish_bundle(artifacts, bundle_dir)
    version = registry.register(
        "toy",
        bundle_digest=published.bundle_digest,
        manifest_digest="0" * 64,  # what a different bundle would have
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        metrics={},
        gates={},
    )
    with pytest.raises(ModelError, match=r"manifest.json hash mismatch"):
        fetch_bundle(artifacts, version, tmp_path / "served")


def test_fetch_refuses_a_corrupted_blob(
    bundle_dir: Path, artifacts: ArtifactStore, registry: Registry, tmp_path: Path
) -> None:
    published = publish_bundle(artifacts, bundle_dir)
    version = registry.register(
        "toy",
        bundle_digest=published.bundle_digest,
        manifest_digest=published.manifest_digest,
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        metrics={},
        gates={},
    )
    model_blob = artifacts.tree_entries(published.bundle_digest)["model.skops"].digest
    blob_path = (
        tmp_path
        / "project"
        / ".conveyor"
        / "artifacts"
        / "sha256"
        / model_blob[:2]
        / model_blob[2:]
    )
    assert blob_path.is_file()
    data = bytearray(blob_path.read_bytes())
    data[-10] ^= 0xFF
    blob_path.write_bytes(bytes(data))
    with pytest.raises((StoreError, ModelError)):
        fetch_bundle(artifacts, version, tmp_path / "served")
    assert not (tmp_path / "served").exists()


def test_publish_refuses_a_broken_bundle(bundle_dir: Path, artifacts: ArtifactStore) -> None:
    (bundle_dir / "metrics.json").write_text("{}")
    with pytest.raises(ModelError, match=r"metrics.json hash mismatch"):
        publish_bundle(artifacts, bundle_dir)


def test_registered_bundle_digests_protect_artifacts(
    bundle_dir: Path, artifacts: ArtifactStore, store: MetadataStore, registry: Registry
) -> None:
    published = publish_bundle(artifacts, bundle_dir)
    stray = artifacts.put_bytes(b"unreferenced")
    registry.register(
        "toy",
        bundle_digest=published.bundle_digest,
        manifest_digest=published.manifest_digest,
        run_id=None,
        dataset_version=None,
        config_fingerprint=None,
        metrics={},
        gates={},
    )
    result = artifacts.gc(store.referenced_digests())
    assert result.removed == [stray]
    assert artifacts.exists(published.bundle_digest)
