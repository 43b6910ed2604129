"""The composition root: read the config once, open the stores, hand them out.

Example:
    >>> import conveyor
    >>> project = conveyor.Project("examples/churn")  # doctest: +SKIP
    >>> run = project.run()  # doctest: +SKIP
    >>> run.status  # doctest: +SKIP
    'succeeded'
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.config.loader import LoadedConfig, load_config, parse_config
from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from datetime import datetime

    from conveyor.automate import Agent, CheckReport, DecisionRecord, RetrainOutcome
    from conveyor.monitor import MonitorResult
    from conveyor.pipeline.runner import RunReporter, RunResult
    from conveyor.pipeline.step import Step
    from conveyor.stores.artifacts import ArtifactStore, GcResult
    from conveyor.stores.metadata import MetadataStore
    from conveyor.stores.prediction_log import LogLocation, PredictionLog

__all__ = ["Project", "run"]


class Project:
    """A Conveyor project: its config, its stores, and what can be done with them.

    Args:
        path: the project directory or its ``conveyor.yaml``.
        overrides: ``key.path=value`` overrides, as with ``conveyor run -o``.
        env: environment for ``${env:}`` interpolation and ``CONVEYOR_DB_URL``
            (default: ``os.environ``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | LoadedConfig = ".",
        *,
        overrides: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        if isinstance(path, LoadedConfig):
            self.loaded = path
        else:
            self.loaded = load_config(path, overrides, env=self._env)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        root: str | os.PathLike[str] = ".",
        env: Mapping[str, str] | None = None,
        overrides: Sequence[str] = (),
    ) -> Project:
        """A project from an in-memory config (paths resolve against ``root``)."""
        import yaml

        source = Path(root).resolve() / "conveyor.yaml"
        loaded = parse_config(
            yaml.safe_dump(dict(data), sort_keys=False), source=source, overrides=overrides, env=env
        )
        return cls(loaded, env=env)

    # ------------------------------------------------------------------ parts

    @property
    def config(self):
        return self.loaded.config

    @property
    def root(self) -> Path:
        return self.loaded.root.resolve()

    @property
    def metadata_url(self) -> str:
        url = self.config.stores.metadata or self._env.get("CONVEYOR_DB_URL")
        if not url:
            from conveyor.stores.metadata import default_metadata_url

            return default_metadata_url(self.root)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url[len("sqlite:///") :]
            if rel and rel != ":memory:":
                return f"sqlite:///{(self.root / rel).resolve()}"
        return url

    @cached_property
    def metadata(self) -> MetadataStore:
        from conveyor.stores.metadata import MetadataStore

        return MetadataStore(self.metadata_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from conveyor.stores.artifacts import ArtifactStore

        url = self.config.stores.artifacts
        if url and "://" not in url:
            url = str((self.root / url).resolve())
        return ArtifactStore.from_url(
            url, root=self.root, storage_options=self.config.stores.storage_options
        )

    def prediction_log_root(self) -> Path | LogLocation:
        """Where the prediction log lives (``stores.predictions``).

        A local log (the default ``<root>/.conveyor/predictions``, or a
        relative or absolute directory) is a ``Path``; a URL such as
        ``s3://bucket/prefix/predictions`` is a
        :class:`~conveyor.stores.prediction_log.LogLocation` carrying
        ``stores.storage_options``. :class:`PredictionLog` accepts either.

        Example:
            >>> Project("examples/churn").prediction_log_root()  # doctest: +SKIP
            PosixPath('/.../examples/churn/.conveyor/predictions')
        """
        from conveyor.stores.prediction_log import LogLocation, default_log_root, is_remote_url

        where = self.config.stores.predictions
        if where is None:
            return default_log_root(self.root)
        if is_remote_url(where):
            return LogLocation(where, self.config.stores.storage_options)
        return self.root / Path(where.removeprefix("file://")).expanduser()

    def open_prediction_log(self, **options: Any) -> PredictionLog:
        """A :class:`PredictionLog` writing to :meth:`prediction_log_root` (close it when done).

        Args:
            **options: passed to PredictionLog (``batch_size``, ``flush_interval_s``…).

        Example:
            >>> with Project(".").open_prediction_log() as log:  # doctest: +SKIP
            ...     log.append(rows)
        """
        from conveyor.stores.prediction_log import PredictionLog

        return PredictionLog(self.prediction_log_root(), **options)

    @cached_property
    def registry(self):
        from conveyor.registry import Registry

        return Registry(self.metadata)

    def steps(self) -> list[Step]:
        from conveyor.pipeline.steps import default_steps

        return default_steps(with_models=bool(self.config.models))

    # ------------------------------------------------------------------ actions

    def run(
        self,
        *,
        no_cache: bool = False,
        from_step: str | None = None,
        only: str | None = None,
        reporter: RunReporter | None = None,
        command: str | None = None,
        raise_on_failure: bool = True,
        kind: str = "run",
        parent_run_id: str | None = None,
        steps: Sequence[Step] | None = None,
        pinned: Mapping[str, Mapping[str, str]] | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Run the pipeline; raises the step's error when it fails (unless told not to)."""
        from conveyor.pipeline.executors import open_executor
        from conveyor.pipeline.runner import Runner

        if not self._checked_before():
            self.check()
        # Opened before the runner records the run: an unreachable scheduler leaves no run.
        with open_executor(self.config.executor) as executor:
            runner = Runner(
                loaded=self.loaded,
                metadata=self.metadata,
                artifacts=self.artifacts,
                steps=list(steps) if steps is not None else self.steps(),
                reporter=reporter,
                services={**self._services(), "executor": executor, **(services or {})},
            )
            result = runner.run(
                no_cache=no_cache,
                from_step=from_step,
                only=only,
                command=command or (shlex.join(["conveyor", *sys.argv[1:]]) if sys.argv else None),
                kind=kind,
                code_version=git_commit_of(self.root),
                parent_run_id=parent_run_id,
                pinned=pinned,
            )
        if raise_on_failure and result.exception is not None:
            exc = result.exception
            exc.run_id = result.id  # type: ignore[attr-defined]
            raise exc
        return result

    def _checked_before(self) -> bool:
        """A config that already ran to success passed the preflight checks (they import a lot)."""
        last = self.metadata.list_runs(project=self.config.project, status="succeeded", limit=1)
        return bool(last) and last[0].config_fingerprint == self.loaded.fingerprint

    def check(self) -> None:
        """Check what the schema cannot: triggers, estimators, parameters, expressions, metrics
        and gates."""
        from conveyor.automate import check_triggers
        from conveyor.pipeline.preflight import preflight

        check_triggers(self.config, locate=self._locate)
        preflight(self.config)

    def tune(
        self, *, models: Sequence[str] | None = None, reporter: RunReporter | None = None
    ) -> RunResult:
        """Run tuning alone (``conveyor tune``): data steps from the cache, then the studies.

        The best parameters are recorded on the run (``run.load("tuning")``).
        """
        from conveyor.pipeline.steps import DATA_STEPS
        from conveyor.pipeline.steps.model_steps import TUNE_STEP

        return self.run(
            steps=[*DATA_STEPS, TUNE_STEP],
            reporter=reporter,
            kind="tune",
            services={"tune_models": list(models) if models else None},
        )

    def predict(
        self, model: str, input_path: str | os.PathLike[str], output_path: str | os.PathLike[str]
    ) -> dict[str, Any]:
        """Score a file with a registered model version (``conveyor predict``)."""
        from conveyor.pipeline.scoring import predict_file

        version = self.registry.resolve(model)
        return predict_file(
            version,
            self.artifacts,
            Path(input_path),
            Path(output_path),
            id_column=self.config.id_column,
        )

    def reproduce(self, run_id: str, *, reporter: RunReporter | None = None) -> dict[str, Any]:
        """Re-run ``run_id`` with its dataset version, config and seeds; compare its metrics."""
        from conveyor.pipeline.reproduce import (
            compare_reproduction,
            plan_reproduction,
            reproduction_steps,
        )

        plan = plan_reproduction(self.metadata, run_id, current=self.loaded, env=self._env)
        again = Project(plan.loaded, env=self._env)
        again.__dict__["metadata"] = self.metadata  # share the open stores
        again.__dict__["artifacts"] = self.artifacts
        result = again.run(
            steps=reproduction_steps(bool(plan.loaded.config.models)),
            no_cache=True,
            pinned=plan.pinned,
            reporter=reporter,
            kind="reproduce",
            parent_run_id=plan.original_id,
            services={"study_suffix": f":reproduce-{plan.original_id}"},
        )
        return compare_reproduction(plan, result)

    def monitor(
        self,
        model: str | None = None,
        *,
        version: int | None = None,
        since: datetime | None = None,
        window: str | float | None = None,
        until: datetime | None = None,
        store_results: bool = True,
    ) -> MonitorResult:
        """Monitor a model over a window of its prediction log (``conveyor monitor``).

        Args:
            model: ``name``, ``name:3`` or ``name@alias`` (default: the config's model name;
                a bare name monitors every version in the window).
            version: monitor only this version.
            since, until: the window's start and end (timezone-aware).
            window: its length, ``"7d"`` or seconds (default: ``monitor.window``).
            store_results: record the figures as time series in the metadata store.

        Example:
            >>> Project("examples/churn").monitor(window="1d").metrics()["drift.share"]  # doctest: +SKIP
            0.05
        """
        from conveyor.config._monitoring import parse_duration
        from conveyor.monitor import monitor_model
        from conveyor.registry import parse_ref

        text = model or self.config.model_name
        ref = parse_ref(text)
        pinned = ref.version
        if "@" in text:
            pinned = self.registry.get(ref.name, ref.alias).version
        if pinned is not None and version is not None and pinned != version:
            raise ConfigError(f"monitor: {text!r} names v{pinned} but --version is {version}")
        try:
            window_s = parse_duration(window) if isinstance(window, str) else window
        except ValueError as exc:
            raise ConfigError(f"monitor: window: {exc}") from exc
        return monitor_model(
            ref.name,
            store=self.metadata,
            artifacts=self.artifacts,
            registry=self.registry,
            log_root=self.prediction_log_root(),
            config=self.config.monitor,
            version=version if version is not None else pinned,
            serving_alias=self.config.promotion.alias,
            since=since,
            window_s=window_s,
            until=until,
            store_results=store_results,
        )

    def gc(self, *, dry_run: bool = False, min_age_s: float = 600.0) -> GcResult:
        """Delete every artifact no run, dataset version or model version references.

        Blobs younger than ``min_age_s`` are kept: a run in progress has stored
        outputs that it has not recorded yet.
        """
        return self.artifacts.gc(
            self.metadata.referenced_digests(), dry_run=dry_run, min_age_s=min_age_s
        )

    @property
    def optuna_storage_url(self) -> str:
        """Where tuning studies live: beside the metadata, never in its tables.

        Optuna keeps its own Alembic history, so it gets its own SQLite file, or
        its own schema in the team's PostgreSQL database.
        """
        url = self.metadata_url
        if url.startswith("sqlite"):
            return f"sqlite:///{self.root / '.conveyor' / 'optuna.db'}"
        if url.startswith("postgresql"):
            import sqlalchemy as sa

            url = self.metadata.engine.url.render_as_string(hide_password=False)
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS conveyor_optuna"))
            engine.dispose()
            from sqlalchemy.engine import make_url

            parsed = make_url(url)
            query = dict(parsed.query)
            query["options"] = (
                "-csearch_path=conveyor_optuna"  # replaces any search_path of the metadata
            )
            return parsed.set(query=query).render_as_string(hide_password=False)
        return url

    # ------------------------------------------------------------------ automation

    def agent(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        wait: Callable[[float], bool] | None = None,
        holder: str | None = None,
    ) -> Agent:
        """The closed-loop agent of this project's model (``conveyor agent``).

        Its metrics come from :meth:`monitor` (not stored as a monitor run) and
        its retrain is :meth:`run` with ``promotion.auto`` off, so that the agent,
        not the pipeline, decides between canary and promotion.

        Example:
            >>> agent = Project(".").agent()  # doctest: +SKIP
            >>> agent.run(max_ticks=3)  # doctest: +SKIP
        """
        from conveyor.automate.wiring import build_agent

        now = clock

        def metrics(window_s: float | None) -> dict[str, float | None]:
            until = now() if now is not None else None
            return self.monitor(window=window_s, until=until, store_results=False).metrics()

        return build_agent(
            self.config,
            root=self.root,
            store=self.metadata,
            registry=self.registry,
            metrics=metrics,
            retrain=self._retrain_for_agent,
            log_root=self.prediction_log_root(),
            clock=clock,
            wait=wait,
            holder=holder,
            locate=self._locate,
        )

    def check_triggers(
        self, *, record: bool = True, clock: Callable[[], datetime] | None = None
    ) -> CheckReport:
        """Evaluate every trigger once, taking no action (``conveyor check``).

        With ``record``, fired triggers are recorded (their cooldown starts),
        schedules are anchored and ``alert`` triggers send their alerts.
        """
        return self.agent(clock=clock).check(record=record)

    def history(
        self, model: str | None = None, *, limit: int | None = None
    ) -> list[DecisionRecord]:
        """The agent's decisions about ``model`` (default: this project's), oldest first."""
        from conveyor.automate import AutomationStore

        return AutomationStore(self.metadata).list_decisions(
            model or self.config.model_name, limit=limit
        )

    def _retrain_for_agent(self) -> RetrainOutcome:
        import dataclasses

        from conveyor.automate import RetrainOutcome
        from conveyor.errors import GateFailed

        cfg = self.config
        manual = cfg.model_copy(
            update={"promotion": cfg.promotion.model_copy(update={"auto": False})}
        )
        again = Project(dataclasses.replace(self.loaded, config=manual), env=self._env)
        again.__dict__.update(metadata=self.metadata, artifacts=self.artifacts)
        try:
            result = again.run(kind="retrain", command="conveyor agent: retrain")
        except GateFailed as exc:
            run_id = getattr(exc, "run_id", None)
            found = [v for v in self.registry.list_versions(cfg.model_name) if v.run_id == run_id]
            return RetrainOutcome(
                version=found[0].version if found else None,
                status="rejected",
                reason=exc.headline,
                run_id=run_id,
                new=bool(found),
                metrics=found[0].metrics if found else {},
            )
        registered = result.load("model_version")
        version = self.registry.get(cfg.model_name, registered["version"])
        # promotion.auto was turned off here, not by the user: leave that out of the reason.
        reason = registered["reason"].removesuffix(
            "; automatic promotion is off (promotion.auto: false)"
        )
        return RetrainOutcome(
            version=version.version,
            status=version.status,
            reason=reason,
            run_id=result.id,
            new=registered["reason"] != "already registered",
            metrics=version.metrics,
        )

    def _locate(self, path: tuple[str | int, ...]) -> str:
        from conveyor.automate.wiring import config_locator

        source = str(self.loaded.path) if self.loaded.path else "<config>"
        return config_locator(source, self.loaded.lines)(path)

    def _labelled_feedback(self) -> Any:
        from conveyor.data.feedback_rows import labelled_feedback_rows

        return labelled_feedback_rows(
            self.metadata, self.prediction_log_root(), model=self.config.model_name
        )

    def _services(self) -> dict[str, Any]:
        return {
            "metadata_url": self.metadata_url,
            "optuna_storage": lambda: self.optuna_storage_url,
            "artifacts": self.artifacts,
            "registry_factory": lambda: self.registry,
            "labelled_feedback": self._labelled_feedback,
        }

    def close(self) -> None:
        if "metadata" in self.__dict__:
            self.metadata.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(
    path_or_config: str | os.PathLike[str] | Mapping[str, Any] = "conveyor.yaml",
    overrides: Sequence[str] = (),
    *,
    no_cache: bool = False,
    from_step: str | None = None,
    only: str | None = None,
) -> RunResult:
    """Run a pipeline from a config file (or mapping) and return the run.

    Example:
        >>> run = conveyor.run("examples/churn/conveyor.yaml", overrides=["split.test=0.2"])  # doctest: +SKIP
        >>> [s.name for s in run.steps]  # doctest: +SKIP
        ['collect', 'validate', 'clean', 'split', ...]
    """
    if isinstance(path_or_config, Mapping):
        project = Project.from_mapping(path_or_config, overrides=overrides)
    else:
        project = Project(path_or_config, overrides=overrides)
    with project:
        return project.run(no_cache=no_cache, from_step=from_step, only=only)


def git_commit_of(path: Path) -> str | None:
    """The current git commit of ``path`` when it is inside a work tree, else None."""
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
