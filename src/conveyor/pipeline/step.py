"""The step contract: a pure function plus the names of what it reads and writes.

A step never opens a store or prints. The runner (``runner.py``) loads the
step's inputs from the artifact store, calls ``step.fn(ctx, **inputs)``,
stores every output it returns as a content-addressed artifact, records the
step run, and reuses stored outputs when the fingerprint is unchanged.

Output kinds and how the runner stores them:

- ``dataset``: a ``polars.DataFrame`` written as Parquet *and* recorded as a
  dataset version (rows, columns, schema, content hash);
- ``frame``: a ``polars.DataFrame`` written as Parquet;
- ``json``: any JSON-serialisable value (dicts, lists, numbers);
- ``bytes``: raw bytes;
- ``tree``: a directory (``pathlib.Path``) stored file by file under a manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from conveyor.config.loader import LoadedConfig
    from conveyor.config.models import ConveyorConfig

__all__ = ["Lazy", "OutputKind", "Step", "StepContext", "StepOutput"]

OutputKind = Literal["dataset", "frame", "json", "bytes", "tree"]
T = TypeVar("T")


@dataclass
class StepContext:
    """What a step may know about the world: config, project root, seed and a message sink."""

    loaded: LoadedConfig
    root: Path
    workdir: Path
    """A scratch directory the step may write into (for ``tree`` outputs)."""
    run_id: str
    emit: Callable[[str], None] = lambda _msg: None
    """Send one human-readable line (shown under the step in progress output)."""
    progress: Callable[[str, float | None], None] = lambda _label, _fraction: None
    """Report progress within a step: a label and a fraction in [0, 1] (or None)."""
    input_digests: Mapping[str, str] = field(default_factory=dict)
    """Artifact digest of each input (for lineage, e.g. the bundle a model version points to)."""
    handoff: Mapping[str, Any] = field(default_factory=dict)
    """Objects earlier steps of this same run left in memory (see ``StepOutput.handoff``);
    empty when those steps were reused from the cache, so a step must not rely on it."""
    services: Mapping[str, Any] = field(default_factory=dict)
    """Read-only handles the runner lends to the few steps that need them
    (``registry`` for the register step, ``optuna_storage`` URL for tuning)."""

    @property
    def config(self) -> ConveyorConfig:
        return self.loaded.config

    @property
    def seed(self) -> int:
        return self.loaded.config.seed


@dataclass
class StepOutput:
    """What a step returns: named outputs plus what to show and record about them."""

    outputs: dict[str, Any]
    rows_in: int | None = None
    rows_out: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    handoff: dict[str, Any] = field(default_factory=dict)
    """In-memory objects for later steps of the same run (never stored): a shortcut
    around deserialising an output that was just serialised, e.g. fitted models."""
    project_files: dict[str, bytes] = field(default_factory=dict)
    """Files the runner writes into the project directory when they do not
    exist yet (e.g. the inferred ``schema.yaml``)."""


class Lazy(Generic[T]):
    """A step input loaded on the first call, then kept (see ``Step.lazy_inputs``).

    Example:
        >>> test = Lazy(lambda: "loaded")
        >>> test(), test()
        ('loaded', 'loaded')
    """

    def __init__(self, load: Callable[[], T]) -> None:
        self._load: Callable[[], T] | None = load
        self._value: T | None = None

    def __call__(self) -> T:
        if self._load is not None:
            self._value, self._load = self._load(), None
        return self._value  # type: ignore[return-value]


@dataclass(frozen=True)
class Step:
    """One stage of the pipeline.

    Attributes:
        name: unique step name (``collect``, ``validate``, …).
        fn: ``fn(ctx, **inputs) -> StepOutput``; keyword names are the input names.
        inputs: names of outputs of earlier steps this step reads.
        outputs: name -> kind of every output the step returns.
        version: bump when the implementation changes what it produces.
        config_section: the slice of the config that the step's result depends on.
        external_files: files outside the store that the step reads; their
            path, size and modification time enter the fingerprint.
        code_refs: import paths of user code the step runs; the source of each
            enters the fingerprint.
        cacheable: False for steps whose result depends on the outside world
            in ways a fingerprint cannot see (an HTTP API, a database query).
        lazy_inputs: inputs the step reads only on some paths: it receives a
            :class:`Lazy` for each and calls it to load the value.
    """

    name: str
    fn: Callable[..., StepOutput]
    inputs: tuple[str, ...]
    outputs: Mapping[str, OutputKind]
    version: str = "1"
    config_section: Callable[[ConveyorConfig], Any] = lambda _cfg: None
    external_files: Callable[[ConveyorConfig, Path], Sequence[Path]] = lambda _cfg, _root: ()
    code_refs: Callable[[ConveyorConfig], Sequence[str]] = lambda _cfg: ()
    cacheable: bool | Callable[[ConveyorConfig], bool] = True
    description: str = ""
    lazy_inputs: tuple[str, ...] = ()
