"""Shared by the integration tests: a metadata store on every backend available.

SQLite always; PostgreSQL when it runs here (the ``postgres`` marker skips it, with the
reason, when it does not).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.stores import MetadataStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'conveyor.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    with MetadataStore(store_url) as opened:
        yield opened
