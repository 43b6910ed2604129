"""Fixtures for the stores tests: store factories over every available backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The conformance suites are plain modules; let pytest explain their failed asserts.
pytest.register_assert_rewrite("conveyor.testing.metadata_suite", "conveyor.testing.artifact_suite")

from conveyor.stores import (  # noqa: E402
    ArtifactStore,
    FsspecBackend,
    LocalBackend,
    MemoryBackend,
    MetadataStore,
)

METADATA_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
ARTIFACT_BACKENDS = ["local", "memory", "fsspec-memory", "fsspec-file"]


@pytest.fixture(params=METADATA_BACKENDS)
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty metadata database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/meta/conveyor.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_metadata_store(metadata_url: str) -> Iterator[Callable[[], MetadataStore]]:
    """A factory of stores on one fresh database; all are closed after the test."""
    stores: list[MetadataStore] = []

    def make() -> MetadataStore:
        stores.append(MetadataStore(metadata_url))
        return stores[-1]

    yield make
    for store in stores:
        store.close()


@pytest.fixture(params=ARTIFACT_BACKENDS)
def artifact_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    """A fresh, empty artifact store on each backend."""
    kind = request.param
    if kind == "local":
        yield ArtifactStore(LocalBackend(tmp_path / "store"))
    elif kind == "memory":
        yield ArtifactStore(MemoryBackend())
    elif kind == "fsspec-file":
        yield ArtifactStore(FsspecBackend(f"file://{tmp_path}/fsstore"))
    else:
        backend = FsspecBackend(f"memory://conveyor-test-{uuid.uuid4().hex}")
        yield ArtifactStore(backend)
        if backend.fs.exists(backend.root):
            backend.fs.rm(backend.root, recursive=True)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty scratch directory outside any store."""
    path = tmp_path / "work"
    path.mkdir()
    return path
