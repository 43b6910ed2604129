"""The metadata store: runs, steps, lineage, artifacts and dataset versions in SQL.

One class, :class:`MetadataStore`, over SQLite (the embedded default) or
PostgreSQL. Opening a store applies pending migrations. Every public method is
one short transaction, retried when another process holds a lock, and any
database failure surfaces as :class:`~conveyor.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from conveyor.stores import _dataset_queries, _references, _run_queries
from conveyor.stores._engine import (
    WRITE_OPTION,
    create_store_engine,
    default_metadata_url,
    mask_url,
    normalize_url,
    retrying,
)
from conveyor.stores._migrate import upgrade_to_head
from conveyor.stores._records import ArtifactRecord, DatasetVersionRecord, RunRecord, StepRecord
from conveyor.stores._sql import ensure_project

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["MetadataStore", "default_metadata_url"]

T = TypeVar("T")


class MetadataStore:
    """Runs, steps, lineage, artifacts and dataset versions in one SQL database.

    Args:
        url: SQLAlchemy URL. ``sqlite:///path/conveyor.db`` (parent directory is
            created) or ``postgresql://user@host/db`` (psycopg 3 is used).

    Raises:
        StoreError: the database cannot be opened or migrated.

    Example:
        >>> with MetadataStore("sqlite:///.conveyor/conveyor.db") as store:  # doctest: +SKIP
        ...     run_id = store.create_run("churn", config={}, config_fingerprint="abc")
        ...     store.finish_run(run_id, status="succeeded")
    """

    def __init__(self, url: str) -> None:
        self._url = normalize_url(url)
        self.url = mask_url(self._url)
        """The URL with any password masked (safe to log)."""
        self.engine = create_store_engine(self._url)
        self.dialect: str = self.engine.dialect.name
        try:
            self.migrated = retrying(
                lambda: upgrade_to_head(self.engine), what=f"opening metadata store {self.url}"
            )
            """Whether opening this store applied any migration."""
        except BaseException:
            self.engine.dispose()
            raise

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MetadataStore({self.url!r})"

    # ------------------------------------------------------------ transactions

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection inside one write transaction, committed when the block exits.

        On SQLite the transaction takes the write lock up front
        (``BEGIN IMMEDIATE``). Wrap the whole block in :meth:`retrying` (or use
        :meth:`transaction`) to retry it when the database is locked. Do not
        call other store methods inside the block: on SQLite they would wait
        for the lock this transaction holds.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reads (a deferred transaction on SQLite, rolled back at exit)."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session inside :meth:`begin`'s transaction; flushed and committed at exit."""
        from sqlalchemy.orm import Session

        with self.begin() as conn, Session(bind=conn) as session:
            yield session
            session.flush()

    def retrying(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` (a whole transaction), retrying when the database is locked.

        Database errors become :class:`~conveyor.errors.StoreError` naming this store.

        Example:
            >>> store.retrying(lambda: store.ensure_project("churn"))  # doctest: +SKIP
            1
        """
        return retrying(fn, what=f"metadata store {self.url}")

    def transaction(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn(conn)`` in one write transaction, retried as a whole on lock conflicts."""

        def attempt() -> T:
            with self.begin() as conn:
                return fn(conn)

        return self.retrying(attempt)

    def _read(self, fn: Callable[[sa.Connection], T]) -> T:
        def attempt() -> T:
            with self.connect() as conn:
                return fn(conn)

        return self.retrying(attempt)

    # ------------------------------------------------------------ projects and runs

    def ensure_project(self, name: str) -> int:
        """The id of project ``name``, created on first use."""
        return self.transaction(lambda conn: ensure_project(conn, name))

    def create_run(
        self,
        project: str,
        *,
        config: Mapping[str, Any],
        config_fingerprint: str,
        kind: str = "run",
        code_version: str | None = None,
        command: str | None = None,
        pid: int | None = None,
        host: str | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """Record a new run with status ``running``; returns its 12-hex-character id.

        Args:
            project: project name (created when new).
            config: the resolved config, secrets already masked.
            config_fingerprint: hash of the config, for reproducibility.
            kind: ``run`` or another kind of job (``tune``, ``score``, ``retrain``).
            code_version: package version and/or git commit.
            command: the command line that started the run.
            pid: process id of the runner, so :meth:`mark_interrupted_runs`
                can spot runs whose process died.
            host: host name of that process.
            parent_run_id: the run that started this one (e.g. a retrain).
        """
        return self.transaction(
            lambda conn: _run_queries.create_run(
                conn,
                project,
                config=config,
                config_fingerprint=config_fingerprint,
                kind=kind,
                code_version=code_version,
                command=command,
                pid=pid,
                host=host,
                parent_run_id=parent_run_id,
            )
        )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        error: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """Set a run's final ``status`` (succeeded, failed, interrupted), time and duration.

        Raises:
            NotFound: no run has this id.
            ValueError: ``status`` is not a run status.
        """
        self.transaction(
            lambda conn: _run_queries.finish_run(
                conn, run_id, status=status, error=error, summary=summary
            )
        )

    def get_run(self, ref: str) -> RunRecord:
        """The run whose id is ``ref`` or starts with ``ref``.

        Raises:
            NotFound: no run matches, or the prefix matches several (listed).
        """
        return self._read(lambda conn: _run_queries.get_run(conn, ref))

    def list_runs(
        self,
        *,
        project: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one project and/or with one status."""
        return self._read(
            lambda conn: _run_queries.list_runs(
                conn, project=project, status=status, limit=limit, offset=offset
            )
        )

    def mark_interrupted_runs(self, *, host: str, is_alive: Callable[[int], bool]) -> list[str]:
        """Mark runs left ``running`` by a dead process on ``host`` as ``interrupted``.

        Runs without a pid are left alone (nothing proves they died). Their
        running steps become ``interrupted`` too.

        Args:
            host: only runs recorded on this host are considered (pids mean
                nothing across machines).
            is_alive: tells whether a pid still runs, e.g. ``psutil.pid_exists``.

        Returns:
            The ids of the runs marked interrupted.
        """
        candidates = self._read(lambda conn: _run_queries.running_runs_on_host(conn, host))
        marked = []
        for run_id, pid in candidates:
            if pid is None or is_alive(pid):
                continue
            error = f"process {pid} ended without finishing the run"
            if self.transaction(
                lambda conn, run_id=run_id, error=error: _run_queries.interrupt_run(
                    conn, run_id, error=error
                )
            ):
                marked.append(run_id)
        return marked

    # ------------------------------------------------------------ steps

    def start_step(self, run_id: str, name: str, *, fingerprint: str, position: int) -> int:
        """Record that step ``name`` of ``run_id`` started; returns the step id."""
        return self.transaction(
            lambda conn: _run_queries.start_step(
                conn, run_id, name, fingerprint=fingerprint, position=position
            )
        )

    def finish_step(
        self,
        step_id: int,
        *,
        status: str,
        cached: bool = False,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        rows_in: int | None = None,
        rows_out: int | None = None,
        duration_s: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        notes: list[str] | None = None,
        warnings: list[str] | None = None,
        error: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """Record how a step ended and its lineage.

        Args:
            step_id: from :meth:`start_step`.
            status: succeeded, failed, skipped or interrupted.
            cached: whether the outputs were reused from an earlier run.
            inputs: input name -> artifact digest read by the step.
            outputs: output name -> artifact digest written by the step.
            duration_s: defaults to the time since :meth:`start_step`.
            fingerprint: replaces the fingerprint given to :meth:`start_step`, for a
                step whose result turned out to depend on a file it wrote itself.
        """
        self.transaction(
            lambda conn: _run_queries.finish_step(
                conn,
                step_id,
                status=status,
                cached=cached,
                inputs=inputs,
                outputs=outputs,
                rows_in=rows_in,
                rows_out=rows_out,
                duration_s=duration_s,
                metrics=metrics,
                notes=notes,
                warnings=warnings,
                error=error,
                fingerprint=fingerprint,
            )
        )

    def list_steps(self, run_id: str) -> list[StepRecord]:
        """The steps of ``run_id`` in pipeline order. Raises NotFound for an unknown run."""
        return self._read(lambda conn: _run_queries.list_steps(conn, run_id))

    def find_cached_step(self, fingerprint: str) -> StepRecord | None:
        """The newest succeeded step with this fingerprint, whose outputs can be reused."""
        return self._read(lambda conn: _run_queries.find_cached_step(conn, fingerprint))

    # ------------------------------------------------------------ artifacts

    def record_artifact(
        self, digest: str, *, kind: str, size: int, media_type: str | None = None
    ) -> None:
        """Catalogue a blob of the artifact store; recording it again does nothing."""
        self.transaction(
            lambda conn: _references.record_artifact(
                conn, digest, kind=kind, size=size, media_type=media_type
            )
        )

    def get_artifact(self, digest: str) -> ArtifactRecord | None:
        """The catalogue entry of ``digest``, or None."""
        return self._read(lambda conn: _references.get_artifact(conn, digest))

    def forget_artifacts(self, digests: Iterable[str]) -> int:
        """Drop catalogue entries (after garbage collection); returns how many existed."""
        wanted = list(digests)
        return self.transaction(lambda conn: _references.forget_artifacts(conn, wanted))

    def referenced_digests(self) -> set[str]:
        """Every artifact digest something in this store points at (protected from gc).

        Covers step lineage, dataset versions, any column named ``digest`` or
        ``*_digest`` in any table, and queries added with
        :func:`~conveyor.stores.register_reference_query`.
        """
        return self._read(_references.referenced_digests)

    # ------------------------------------------------------------ dataset versions

    def record_dataset_version(
        self,
        project: str,
        *,
        digest: str,
        rows: int,
        columns: int,
        schema: Mapping[str, Any],
        source: Mapping[str, Any],
        run_id: str | None,
    ) -> tuple[DatasetVersionRecord, bool]:
        """Record a dataset version, numbered 1, 2, 3… per project.

        Returns:
            The record and whether it was created; recording a digest the
            project already has returns the existing version and False.
        """
        return self.transaction(
            lambda conn: _dataset_queries.record_dataset_version(
                conn,
                project,
                digest=digest,
                rows=rows,
                columns=columns,
                schema=schema,
                source=source,
                run_id=run_id,
            )
        )

    def list_dataset_versions(
        self, project: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[DatasetVersionRecord]:
        """Dataset versions, newest first."""
        return self._read(
            lambda conn: _dataset_queries.list_dataset_versions(
                conn, project, limit=limit, offset=offset
            )
        )

    def get_dataset_version(self, ref: str, *, project: str | None = None) -> DatasetVersionRecord:
        """Find a dataset version by number (``3``, ``v3``), ``latest`` or digest prefix.

        Raises:
            NotFound: nothing matches, or several versions do (listed).
        """
        return self._read(
            lambda conn: _dataset_queries.get_dataset_version(conn, ref, project=project)
        )
