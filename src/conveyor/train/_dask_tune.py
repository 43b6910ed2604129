"""Optuna trials on a Dask cluster: one study, shared through its RDB storage.

The client opens (or resumes) the study, ships the objective (search space,
preprocessor and data) to every worker once, and submits one batch of
trials per worker thread. Each batch opens the same storage, loads the
study and runs ``study.optimize(n_trials=k)``; the sampler of each batch has
its own seed so that parallel batches do not repeat each other's
suggestions. A grid search enqueues its missing grid points first, so each
point runs exactly once whatever the number of workers (the storage hands
each waiting trial to one worker only).

SQLite storage is fine for a local cluster (one machine, WAL, 30 s busy
timeout); a cluster of several machines needs a database every worker
reaches: PostgreSQL. A worker that dies mid-batch leaves its current trial
``RUNNING``; Dask reruns the batch on another worker, so the study still
gets its ``n_trials`` finished trials.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor.config.models import TuneConfig
from conveyor.errors import ConveyorError, ModelError
from conveyor.train._study import count_finished, open_study

__all__ = ["StudySpec", "run_trials_on_dask"]

_SEED_STRIDE = 7919  # a prime: the batches' sampler seeds never collide with seed + trials
_POLL_S = 1.0


@dataclass(frozen=True)
class StudySpec:
    """What a worker needs to open the same study as the client."""

    cfg: TuneConfig
    grid: dict[str, list[Any]] | None
    seed: int
    storage: str
    study_name: str
    direction: str
    pruning: bool
    cv: bool
    where: str


def run_trials_on_dask(
    client: Any,
    objective: Any,
    study: Any,
    spec: StudySpec,
    *,
    remaining: int | None,
    on_trial: Callable[[], None] | None = None,
) -> int:
    """Run ``remaining`` trials of ``study`` (None: until ``tune.timeout_s``) on the cluster.

    Args:
        client: a ``distributed.Client``.
        objective: the trial function (picklable); its ``deadline`` is reset on
            each worker from ``tune.timeout_s``.
        study: the study as the client opened it (RDB storage).
        spec: how workers open the same study.
        remaining: trials still to run, or None with a timeout.
        on_trial: called about once a second while batches run (progress).

    Returns:
        The number of batches that ran.

    Raises:
        ModelError: a batch failed outside its trials (a trial's own failure
            is recorded in the study as FAIL, as locally).
        ConveyorError: raised by a batch, as it is.
    """
    threads = max(1, sum(client.nthreads().values()))
    if spec.grid is not None:
        _enqueue_grid(study, spec.grid)
    if remaining is None:
        sizes: list[int | None] = [None] * threads
    else:
        batches = min(threads, remaining)
        base, extra = divmod(remaining, batches)
        sizes = [base + (1 if i < extra else 0) for i in range(batches)]
    [shipped] = client.scatter([objective], broadcast=True, hash=False)
    futures = [
        client.submit(_run_batch, shipped, spec, index, size, pure=False)
        for index, size in enumerate(sizes)
    ]
    try:
        _wait(futures, on_trial)
        for future in futures:
            future.result()
    except ConveyorError:
        raise
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ModelError(
            f"{spec.where}: a batch of trials failed on the Dask cluster: {detail}"
        ) from exc
    finally:
        for future in futures:
            future.cancel()
    _run_leftover_queue(objective, study)
    return len(sizes)


def _run_leftover_queue(objective: Any, study: Any) -> None:
    """Run, here, queued grid points no worker took.

    Two workers racing for the last queued trial can leave it WAITING (the loser
    samples instead); each queued point must still run exactly once.
    """
    import optuna

    waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    if waiting:
        study.optimize(objective, n_trials=len(waiting), n_jobs=1, catch=(Exception,))


def _wait(futures: list[Any], on_trial: Callable[[], None] | None) -> None:
    from distributed import wait

    while True:
        try:
            wait(futures, timeout=_POLL_S)
            return
        except TimeoutError:
            if on_trial is not None:
                on_trial()


def _enqueue_grid(study: Any, grid: dict[str, list[Any]]) -> None:
    """Queue every grid point no trial has taken yet (each is then run by one worker)."""
    names = list(grid)
    taken = {
        tuple(t.params.get(n) for n in names)
        for t in study.get_trials(deepcopy=False)
        if all(n in t.params for n in names)
    }
    for point in itertools.product(*(grid[n] for n in names)):
        if point not in taken:
            study.enqueue_trial(dict(zip(names, point, strict=True)), skip_if_exists=True)


def _run_batch(objective: Any, spec: StudySpec, index: int, n_trials: int | None) -> int:
    """On a worker: open the shared study and run ``n_trials`` trials (or until the timeout)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(
        spec.cfg,
        grid=spec.grid,
        seed=spec.seed + _SEED_STRIDE * (index + 1),
        storage=spec.storage,
        study_name=spec.study_name,
        direction=spec.direction,
        pruning=spec.pruning,
        cv=spec.cv,
        where=spec.where,
    )
    timeout = spec.cfg.timeout_s
    if timeout is not None and hasattr(objective, "deadline"):
        # monotonic clocks are per machine: the deadline starts when the batch does.
        objective = dataclasses.replace(objective, deadline=time.monotonic() + timeout)
    before = count_finished(study)
    study.optimize(objective, n_trials=n_trials, timeout=timeout, n_jobs=1, catch=(Exception,))
    return count_finished(study) - before
