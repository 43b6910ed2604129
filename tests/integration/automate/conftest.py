"""Automation over every metadata backend available: SQLite always, PostgreSQL when running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conveyor.automate import AutomationStore
from conveyor.registry import Registry
from conveyor.stores import MetadataStore

T0 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand (thread-safe enough for the lock keeper)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def automation(store: MetadataStore) -> AutomationStore:
    return AutomationStore(store)


@pytest.fixture
def registry(store: MetadataStore) -> Registry:
    return Registry(store)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
