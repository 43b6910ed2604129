"""Every backend passes the conformance suites in ``conveyor.testing``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.stores import ArtifactStore, MetadataStore
from conveyor.testing import ARTIFACT_CHECKS, METADATA_CHECKS, ArtifactCheck, MetadataCheck


@pytest.mark.parametrize("check", METADATA_CHECKS, ids=lambda check: check.__name__)
def test_metadata_store_conformance(
    check: MetadataCheck, make_metadata_store: Callable[[], MetadataStore]
) -> None:
    check(make_metadata_store)


@pytest.mark.parametrize("check", ARTIFACT_CHECKS, ids=lambda check: check.__name__)
def test_artifact_store_conformance(
    check: ArtifactCheck, artifact_store: ArtifactStore, workdir: Path
) -> None:
    check(artifact_store, workdir)


def test_suites_cover_what_the_design_promises() -> None:
    names = {check.__name__ for check in (*METADATA_CHECKS, *ARTIFACT_CHECKS)}
    for topic in ("prefix", "lineage", "cache", "dataset", "concurrent", "interrupted",
                  "tamper", "escap", "tree", "gc", "truncated"):  # fmt: skip
        assert any(topic in name for name in names), f"no conformance check about {topic!r}"
