"""The runner: load -> run -> store for each step, with caching and lineage.

The runner is the only place that touches the stores during a run. Steps are
called with their inputs and return :class:`~conveyor.pipeline.step.StepOutput`.
Writes are ordered so that a run killed at any moment leaves the stores
consistent: blobs are written atomically first, and only then recorded; a run
left ``running`` by a dead process is marked ``interrupted`` on the next open.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.errors import ConfigError, ConveyorError, NotFound
from conveyor.pipeline._io import MEDIA_TYPES, load_output, store_output
from conveyor.pipeline.fingerprint import step_fingerprint
from conveyor.pipeline.step import Lazy, Step, StepContext, StepOutput

if TYPE_CHECKING:
    from conveyor.config.loader import LoadedConfig
    from conveyor.stores.artifacts import ArtifactStore
    from conveyor.stores.metadata import MetadataStore

__all__ = ["RunReporter", "RunResult", "Runner", "StepRun"]


@dataclass
class StepRun:
    """What happened to one step in one run."""

    name: str
    status: str  # succeeded | cached | failed | skipped
    fingerprint: str = ""
    duration_s: float = 0.0
    rows_in: int | None = None
    rows_out: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def cached(self) -> bool:
        return self.status == "cached"


@dataclass
class RunResult:
    """The outcome of :meth:`Runner.run`."""

    id: str
    status: str
    steps: list[StepRun]
    dataset_versions: list[Any] = field(default_factory=list)
    error: str | None = None
    exception: BaseException | None = None
    duration_s: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    output_kinds: dict[str, str] = field(default_factory=dict)
    _artifacts: ArtifactStore | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def outputs(self) -> dict[str, str]:
        """Every output produced (or reused) in this run: name -> artifact digest."""
        out: dict[str, str] = {}
        for s in self.steps:
            out.update(s.outputs)
        return out

    def step(self, name: str) -> StepRun:
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFound(f"run {self.id} has no step '{name}'")

    def load(self, name: str) -> Any:
        """Load one output of the run by name (e.g. ``run.load("train")``)."""
        if self._artifacts is None:
            raise NotFound("this run result is not attached to an artifact store")
        digest = self.outputs.get(name)
        if digest is None:
            raise NotFound(f"run {self.id} has no output '{name}'; outputs: {sorted(self.outputs)}")
        return load_output(self._artifacts, self.output_kinds[name], digest)


class RunReporter(Protocol):
    """Receives progress; the CLI draws it with Rich, ``--json`` prints events."""

    def run_started(self, run_id: str, steps: Sequence[str]) -> None: ...
    def step_started(self, name: str) -> None: ...
    def step_progress(self, name: str, label: str, fraction: float | None) -> None: ...
    def step_message(self, name: str, text: str) -> None: ...
    def step_finished(self, step: StepRun) -> None: ...
    def run_finished(self, result: RunResult) -> None: ...


class _Silent:
    def run_started(self, run_id: str, steps: Sequence[str]) -> None: ...
    def step_started(self, name: str) -> None: ...
    def step_progress(self, name: str, label: str, fraction: float | None) -> None: ...
    def step_message(self, name: str, text: str) -> None: ...
    def step_finished(self, step: StepRun) -> None: ...
    def run_finished(self, result: RunResult) -> None: ...


class Runner:
    """Runs a list of steps against a metadata store and an artifact store."""

    def __init__(
        self,
        *,
        loaded: LoadedConfig,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        steps: Sequence[Step],
        reporter: RunReporter | None = None,
        services: Mapping[str, Any] | None = None,
        scratch_root: Path | None = None,
    ) -> None:
        self.loaded = loaded
        self.metadata = metadata
        self.artifacts = artifacts
        self.steps = list(steps)
        self.reporter: RunReporter = reporter or _Silent()
        self.services = dict(services or {})
        self.scratch_root = scratch_root or loaded.root / ".conveyor" / "tmp"
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate step names: {names}")
        self._kinds = {o: k for s in self.steps for o, k in s.outputs.items()}

    # ------------------------------------------------------------------ public

    def run(
        self,
        *,
        no_cache: bool = False,
        from_step: str | None = None,
        only: str | None = None,
        command: str | None = None,
        kind: str = "run",
        code_version: str | None = None,
        parent_run_id: str | None = None,
        pinned: Mapping[str, Mapping[str, str]] | None = None,
    ) -> RunResult:
        """Run the steps.

        Args:
            no_cache: run every step even when a stored result matches.
            from_step: reuse the steps before this one, run it and the rest.
            only: run just this step on stored inputs.
            pinned: step name -> outputs (name -> digest) to use as they are
                instead of running the step (``conveyor reproduce`` pins the
                collected dataset version of the original run).
        """
        names = [s.name for s in self.steps]
        for opt, value in (("--from", from_step), ("--only", only)):
            if value is not None and value not in names:
                raise ConfigError(f"{opt} {value}: no such step; steps are: {', '.join(names)}")
        host = socket.gethostname()
        self.metadata.mark_interrupted_runs(host=host, is_alive=_pid_alive)
        config = self.loaded.config
        run_id = self.metadata.create_run(
            config.project,
            config=self.loaded.masked(),
            config_fingerprint=self.loaded.fingerprint,
            kind=kind,
            code_version=code_version,
            command=command,
            pid=os.getpid(),
            host=host,
            parent_run_id=parent_run_id,
        )
        started = time.perf_counter()
        result = RunResult(
            id=run_id,
            status="running",
            steps=[],
            output_kinds=self._kinds,
            _artifacts=self.artifacts,
        )
        scratch = self.scratch_root / run_id
        self.reporter.run_started(run_id, names)
        previous = _install_sigterm()
        try:
            self._run_steps(
                result,
                scratch,
                no_cache=no_cache,
                from_step=from_step,
                only=only,
                pinned=pinned or {},
            )
            result.status = "succeeded"
        except KeyboardInterrupt as exc:
            result.status, result.error, result.exception = (
                "interrupted",
                "interrupted by signal",
                exc,
            )
        except ConveyorError as exc:
            result.status, result.error, result.exception = (
                "failed",
                self.loaded.scrub(exc.headline),
                exc,
            )
        except Exception as exc:  # a bug or a library failure: record it, never lose the run
            result.status, result.exception = "failed", exc
            result.error = self.loaded.scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            _restore_sigterm(previous)
            result.duration_s = time.perf_counter() - started
            shutil.rmtree(scratch, ignore_errors=True)
            self.metadata.finish_run(
                run_id, status=result.status, error=result.error, summary=_jsonable(result.summary)
            )
        self.reporter.run_finished(result)
        return result

    # ------------------------------------------------------------------ internals

    def _run_steps(
        self,
        result: RunResult,
        scratch: Path,
        *,
        no_cache: bool,
        from_step: str | None,
        only: str | None,
        pinned: Mapping[str, Mapping[str, str]],
    ) -> None:
        digests: dict[str, str] = {}
        loaded_values: dict[str, Any] = {}
        handoff: dict[str, Any] = {}
        names = [s.name for s in self.steps]
        start_at = names.index(from_step) if from_step else (names.index(only) if only else 0)
        stop_after = names.index(only) if only else len(names) - 1
        project = self.loaded.config.project

        for position, step in enumerate(self.steps):
            if position > stop_after:
                result.steps.append(StepRun(name=step.name, status="skipped"))
                self.reporter.step_finished(result.steps[-1])
                continue
            inputs = {name: digests[name] for name in step.inputs if name in digests}
            missing = [n for n in step.inputs if n not in digests]
            if missing:
                raise ConfigError(
                    f"step '{step.name}' needs {missing}, which no earlier step produces"
                )
            fp = step_fingerprint(step, self.loaded.config, root=self.loaded.root, inputs=inputs)
            cacheable = (
                step.cacheable(self.loaded.config) if callable(step.cacheable) else step.cacheable
            )
            must_reuse = position < start_at
            self.reporter.step_started(step.name)
            step_id = self.metadata.start_step(
                result.id, step.name, fingerprint=fp, position=position
            )
            t0 = time.perf_counter()

            cached = None
            rerun_requested = (from_step is not None or only is not None) and position >= start_at
            if must_reuse or (cacheable and not no_cache and not rerun_requested):
                cached = self.metadata.find_cached_step(fp)
                if cached is not None and not all(
                    self.artifacts.exists(d) for d in cached.outputs.values()
                ):
                    cached = None
            if step.name in pinned:
                missing_blobs = [
                    d for d in pinned[step.name].values() if not self.artifacts.exists(d)
                ]
                if missing_blobs:
                    self.metadata.finish_step(
                        step_id, status="failed", error="pinned outputs missing"
                    )
                    raise NotFound(
                        f"step '{step.name}': the pinned outputs are no longer in the artifact store "
                        f"({', '.join(d[:12] for d in missing_blobs)}); was 'conveyor gc' run?"
                    )
                cached = _Pinned(outputs=dict(pinned[step.name]))
            if must_reuse and cached is None:
                self.metadata.finish_step(step_id, status="failed", error="no cached result")
                flag = "--from" if from_step else "--only"
                raise ConfigError(
                    f"{flag}: step '{step.name}' has no stored result for the current config and data; "
                    f"run 'conveyor run' once without {flag}"
                )
            if cached is not None:
                record = StepRun(
                    name=step.name,
                    status="cached",
                    fingerprint=fp,
                    outputs=dict(cached.outputs),
                    inputs=inputs,
                    rows_in=cached.rows_in,
                    rows_out=cached.rows_out,
                    metrics=dict(cached.metrics or {}),
                    notes=list(cached.notes or []),
                    warnings=list(cached.warnings or []),
                    duration_s=time.perf_counter() - t0,
                )
                self.metadata.finish_step(
                    step_id,
                    status="succeeded",
                    cached=True,
                    inputs=inputs,
                    outputs=record.outputs,
                    rows_in=record.rows_in,
                    rows_out=record.rows_out,
                    duration_s=record.duration_s,
                    metrics=record.metrics,
                    notes=record.notes,
                    warnings=record.warnings,
                )
                digests.update(record.outputs)
                self._record_datasets(result, step, record.outputs, project, frames=None)
                result.steps.append(record)
                result.summary.update(
                    record.metrics.get("summary", {})
                    if isinstance(record.metrics.get("summary"), dict)
                    else {}
                )
                self.reporter.step_finished(record)
                continue

            try:
                kwargs = {
                    name: Lazy(
                        functools.partial(self._load, name, digests[name], loaded_values, scratch)
                    )
                    if name in step.lazy_inputs
                    else self._load(name, digests[name], loaded_values, scratch)
                    for name in step.inputs
                }
                workdir = scratch / step.name
                workdir.mkdir(parents=True, exist_ok=True)
                ctx = StepContext(
                    loaded=self.loaded,
                    root=self.loaded.root,
                    workdir=workdir,
                    run_id=result.id,
                    emit=lambda text, _n=step.name: self.reporter.step_message(
                        _n, self.loaded.scrub(text)
                    ),
                    progress=lambda label, frac, _n=step.name: self.reporter.step_progress(
                        _n, label, frac
                    ),
                    input_digests=dict(inputs),
                    handoff=dict(handoff),
                    services=self.services,
                )
                out = step.fn(ctx, **kwargs)
                if not isinstance(out, StepOutput):
                    raise TypeError(
                        f"step '{step.name}' returned {type(out).__name__}, not StepOutput"
                    )
                produced = self._store_outputs(step, out)
            except BaseException as exc:
                duration = time.perf_counter() - t0
                text = (
                    exc.headline
                    if isinstance(exc, ConveyorError)
                    else f"{type(exc).__name__}: {exc}"
                )
                text = self.loaded.scrub(text.splitlines()[0] if text else type(exc).__name__)
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                self.metadata.finish_step(
                    step_id, status=status, inputs=inputs, duration_s=duration, error=text
                )
                record = StepRun(
                    name=step.name,
                    status="failed",
                    fingerprint=fp,
                    duration_s=duration,
                    inputs=inputs,
                    error=text,
                )
                result.steps.append(record)
                self.reporter.step_finished(record)
                raise
            written = [
                rel
                for rel, content in out.project_files.items()
                if self._write_project_file(rel, content)
            ]
            if written:
                # The step wrote a file it reads itself (the inferred schema.yaml): record the
                # fingerprint that the next run will compute, so an unchanged re-run is cached.
                fp = step_fingerprint(
                    step, self.loaded.config, root=self.loaded.root, inputs=inputs
                )
            record = StepRun(
                name=step.name,
                status="succeeded",
                fingerprint=fp,
                outputs=produced,
                inputs=inputs,
                rows_in=out.rows_in,
                rows_out=out.rows_out,
                metrics=_jsonable(out.metrics),
                notes=[self.loaded.scrub(n) for n in out.notes],
                warnings=[self.loaded.scrub(w) for w in out.warnings],
                duration_s=time.perf_counter() - t0,
            )
            self.metadata.finish_step(
                step_id,
                status="succeeded",
                cached=False,
                inputs=inputs,
                outputs=produced,
                rows_in=record.rows_in,
                rows_out=record.rows_out,
                duration_s=record.duration_s,
                metrics=record.metrics,
                notes=record.notes,
                warnings=record.warnings,
                fingerprint=fp,
            )
            digests.update(produced)
            handoff.update(out.handoff)
            # A tree made in this run stays in the run's scratch directory until the run ends:
            # later steps read it there instead of materialising it again from the store.
            loaded_values.update(out.outputs)
            self._record_datasets(result, step, produced, project, frames=out.outputs)
            if isinstance(record.metrics.get("summary"), dict):
                result.summary.update(record.metrics["summary"])
            result.steps.append(record)
            self.reporter.step_finished(record)

    def _load(self, name: str, digest: str, cache: dict[str, Any], scratch: Path) -> Any:
        if name not in cache:
            scratch.mkdir(parents=True, exist_ok=True)
            cache[name] = load_output(self.artifacts, self._kinds[name], digest, scratch=scratch)
        return cache[name]

    def _store_outputs(self, step: Step, out: StepOutput) -> dict[str, str]:
        declared, given = set(step.outputs), set(out.outputs)
        if declared != given:
            raise TypeError(
                f"step '{step.name}' returned outputs {sorted(given)}, declared {sorted(declared)}"
            )
        produced: dict[str, str] = {}
        for name, kind in step.outputs.items():
            digest, size = store_output(self.artifacts, kind, out.outputs[name], name=name)
            self.metadata.record_artifact(
                digest, kind=kind, size=size, media_type=MEDIA_TYPES[kind]
            )
            produced[name] = digest
        return produced

    def _record_datasets(
        self,
        result: RunResult,
        step: Step,
        produced: Mapping[str, str],
        project: str,
        *,
        frames: Mapping[str, Any] | None,
    ) -> None:
        for name, kind in step.outputs.items():
            if kind != "dataset" or name not in produced:
                continue
            if frames is None:
                try:
                    result.dataset_versions.append(
                        self.metadata.get_dataset_version(produced[name], project=project)
                    )
                    continue
                except NotFound:
                    frame = load_output(self.artifacts, kind, produced[name])
            else:
                frame = frames[name]
            record, _created = self.metadata.record_dataset_version(
                project,
                digest=produced[name],
                rows=frame.height,
                columns=frame.width,
                schema={c: str(t) for c, t in frame.schema.items()},
                source={
                    "step": step.name,
                    "output": name,
                    "sources": _jsonable(self.loaded.masked().get("data", {}).get("sources", [])),
                },
                run_id=result.id,
            )
            result.dataset_versions.append(record)

    def _write_project_file(self, rel: str, content: bytes) -> bool:
        """Write a file into the project unless it exists; True when written."""
        root = self.loaded.root.resolve()
        target = (root / rel).resolve()
        if root not in target.parents:
            raise ConfigError(f"refusing to write '{rel}' outside the project directory")
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_bytes(content)
        os.replace(tmp, target)
        return True


@dataclass
class _Pinned:
    """Outputs given by the caller, shaped like a cached step record."""

    outputs: dict[str, str]
    rows_in: int | None = None
    rows_out: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=lambda: ["pinned to the original run's outputs"])
    warnings: list[str] = field(default_factory=list)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _install_sigterm() -> Callable[..., Any] | int | None:
    """Turn SIGTERM into KeyboardInterrupt so a terminated run is recorded as interrupted."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def _handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, _handler)


def _restore_sigterm(previous: Any) -> None:
    import threading

    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (numpy scalars -> Python, NaN/inf -> None)."""
    import math

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return str(value)
