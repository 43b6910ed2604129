"""Shared fixtures: real datasets, real servers (skipped only when truly absent)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(
    os.environ.get("CONVEYOR_SHARED_DATASETS", REPO.parent / "shared" / "datasets")
)
POSTGRES_URL = os.environ.get(
    "CONVEYOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The folder of real public datasets (``../shared/datasets``)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def churn_csv(shared_datasets: Path) -> Path:
    return shared_datasets / "telco_churn" / "wa_churn.csv"


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the local PostgreSQL server; skips when no server listens on 127.0.0.1:5432."""
    if not _port_open("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'conveyor[postgres]')")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_server_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    yield f"{postgres_server_url}?options=-csearch_path%3D{schema}"
    engine = sa.create_engine(postgres_server_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _port_open("127.0.0.1", 6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def nats_url() -> str:
    if not _port_open("127.0.0.1", 4222):
        pytest.skip("NATS is not running on 127.0.0.1:4222")
    return "nats://127.0.0.1:4222"
