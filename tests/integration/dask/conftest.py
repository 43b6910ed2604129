"""A real two-worker Dask cluster (separate processes) shared by the Dask tests."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """A ``distributed.Client`` of a ``LocalCluster`` of 2 worker processes, 1 thread each."""
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install 'conveyor[dask]')"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def two_workers(dask_client: Any) -> Any:
    """The shared client, once both workers are up (a test may have killed one)."""
    dask_client.wait_for_workers(2, timeout=60)
    return dask_client
