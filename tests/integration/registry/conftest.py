"""The registry over every metadata backend available: SQLite always, PostgreSQL when running."""

from __future__ import annotations

import pytest

from conveyor.registry import Registry
from conveyor.stores import MetadataStore


@pytest.fixture
def registry(store: MetadataStore) -> Registry:
    return Registry(store)
