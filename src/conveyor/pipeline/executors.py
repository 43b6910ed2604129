"""Executors: where the heavy parts of a command run (this process, or a Dask cluster).

``executor: {type: local}`` (the default) runs everything in the calling
process. ``executor: {type: dask, address: tcp://host:8786}`` connects to an
existing Dask scheduler; ``type: dask`` alone starts a local cluster of
worker processes for the duration of the command. The executor is opened
once per command, *before* a run is recorded, so an unreachable scheduler
fails the command with the address in the message and leaves no run behind.

What runs on the cluster (see docs/scale-out.md):

- tuning: batches of Optuna trials on the workers, one study shared through
  the RDB storage (:func:`conveyor.train.tune.tune` with ``client``);
- LightGBM / XGBoost: the final fit through their Dask interfaces
  (:mod:`conveyor.train._dask_fit`);
- batch scoring of partitioned Parquet (:mod:`conveyor.serve._batch_dask`);
- drift over partitioned prediction logs (:mod:`conveyor.monitor._drift_dask`).

Lower layers never import this module: they take the Dask ``client``
(``executor.client``, None for local) and use it directly.

Example:
    >>> from conveyor.config.models import ExecutorConfig
    >>> with open_executor(ExecutorConfig()) as executor:
    ...     executor.kind, executor.client
    ('local', None)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from conveyor.config.models import ExecutorConfig

__all__ = ["DEFAULT_LOCAL_WORKERS", "Executor", "open_executor"]

DEFAULT_LOCAL_WORKERS = 2
_INSTALL_HINT = "install Dask: pip install 'conveyor[dask]' (dask[distributed,dataframe])"


@dataclass
class Executor:
    """An opened executor.

    Attributes:
        kind: ``local`` or ``dask``.
        client: the ``distributed.Client`` of a Dask executor, None for local.
        address: the scheduler's address (a local cluster's own address too).
        local_cluster: True when this executor started the cluster itself.
    """

    kind: str
    client: Any = None
    address: str | None = None
    local_cluster: bool = False
    _cluster: Any = field(default=None, repr=False)

    @property
    def is_dask(self) -> bool:
        return self.client is not None

    def worker_threads(self) -> int:
        """Threads across the cluster's workers (1 for local)."""
        if self.client is None:
            return 1
        return max(1, sum(self.client.nthreads().values()))

    def describe(self) -> str:
        """One line for logs and notes: ``dask tcp://10.0.0.5:8786 (4 workers, 8 threads)``."""
        if self.client is None:
            return "local"
        workers = self.client.nthreads()
        where = "local cluster" if self.local_cluster else self.address
        return f"dask {where} ({len(workers)} workers, {sum(workers.values())} threads)"

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None


@contextmanager
def open_executor(config: ExecutorConfig | None) -> Iterator[Executor]:
    """Open the executor ``config`` describes and close it afterwards.

    Args:
        config: the ``executor`` section; None means local.

    Raises:
        ConfigError: ``type: dask`` without Dask installed, a scheduler that does
            not answer within ``connect_timeout_s`` (the message names the
            address), or a local cluster that fails to start.

    Example:
        >>> from conveyor.config.models import ExecutorConfig
        >>> with open_executor(ExecutorConfig(type="dask", n_workers=2)) as ex:  # doctest: +SKIP
        ...     ex.describe()
        'dask local cluster (2 workers, 2 threads)'
    """
    if config is None or config.type == "local":
        yield Executor(kind="local")
        return
    executor = _connect(config) if config.address else _start_local(config)
    try:
        yield executor
    finally:
        executor.close()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            "executor.type: dask needs the 'distributed' package, which is not installed",
            hint=_INSTALL_HINT,
        ) from exc
    return distributed


def _connect(config: ExecutorConfig) -> Executor:
    distributed = _import_distributed()
    address = str(config.address)
    timeout = config.connect_timeout_s
    try:
        client = distributed.Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"executor.address: cannot reach the Dask scheduler at {address} "
            f"within {timeout:g} s ({type(exc).__name__})",
            hint="start the scheduler (dask scheduler) and its workers, fix executor.address, "
            "or drop the address to run a local cluster",
        ) from exc
    except ValueError as exc:  # a malformed address that passed the scheme check
        raise ConfigError(f"executor.address: {address}: {exc}") from exc
    if not client.nthreads():
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            client.close()
            raise ConfigError(
                f"executor.address: the Dask scheduler at {address} has no worker "
                f"(waited {timeout:g} s)",
                hint="start workers: dask worker " + address,
            ) from exc
    return Executor(kind="dask", client=client, address=address)


def _start_local(config: ExecutorConfig) -> Executor:
    distributed = _import_distributed()
    n_workers = config.n_workers or DEFAULT_LOCAL_WORKERS
    options: dict[str, Any] = {
        "n_workers": n_workers,
        "threads_per_worker": config.threads_per_worker,
        "processes": True,
        "dashboard_address": None,
        "silence_logs": logging.ERROR,
    }
    if config.memory_limit is not None:
        options["memory_limit"] = config.memory_limit
    try:
        with warnings.catch_warnings():
            # Its HTTP server moves to a free port when 8787 is taken: nothing to act on.
            warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
            cluster = distributed.LocalCluster(**options)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"executor: could not start a local Dask cluster of {n_workers} workers: "
            f"{type(exc).__name__}: {exc}".splitlines()[0]
        ) from exc
    client = distributed.Client(cluster, set_as_default=False)
    return Executor(
        kind="dask",
        client=client,
        address=cluster.scheduler_address,
        local_cluster=True,
        _cluster=cluster,
    )
