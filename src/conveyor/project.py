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
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.config.loader import LoadedConfig, load_config, parse_config

if TYPE_CHECKING:
    from conveyor.pipeline.runner import RunReporter, RunResult
    from conveyor.pipeline.step import Step
    from conveyor.stores.artifacts import ArtifactStore, GcResult
    from conveyor.stores.metadata import MetadataStore

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
        return ArtifactStore.from_url(url, root=self.root)

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
        from conveyor.pipeline.runner import Runner

        if not self._checked_before():
            self.check()
        runner = Runner(
            loaded=self.loaded,
            metadata=self.metadata,
            artifacts=self.artifacts,
            steps=list(steps) if steps is not None else self.steps(),
            reporter=reporter,
            services={**self._services(), **(services or {})},
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
        """Check what the schema cannot: estimators, parameters, expressions, metrics and gates."""
        from conveyor.pipeline.preflight import preflight

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

    def _services(self) -> dict[str, Any]:
        return {
            "metadata_url": self.metadata_url,
            "optuna_storage": lambda: self.optuna_storage_url,
            "artifacts": self.artifacts,
            "registry_factory": lambda: self.registry,
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
