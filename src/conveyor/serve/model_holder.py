"""The model being served, and its hot reload when the serving alias moves.

A :class:`ModelHolder` resolves a reference (``churn@champion``), fetches the
registered bundle into a private temporary directory, verifies and loads it,
and publishes it as one immutable :class:`ServedModel`. Requests read
``holder.current`` once and keep that object, so a swap never changes the
model under a request that is already running. A background thread polls the
reference and loads a new version off the request path before swapping.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from conveyor.bundle.runtime import BundleRuntime
    from conveyor.project import Project
    from conveyor.registry import ModelVersion

__all__ = ["ModelHolder", "ServedModel"]

log = logging.getLogger("conveyor.serve")


@dataclass(frozen=True)
class ServedModel:
    """One loaded, verified model version and the runtime that answers with it."""

    version: ModelVersion
    runtime: BundleRuntime
    loaded_at: datetime
    path: Path

    @property
    def name(self) -> str:
        return self.version.model_name

    @property
    def number(self) -> int:
        return self.version.version


class ModelHolder:
    """Holds the served model; swaps it atomically when the reference points elsewhere.

    Args:
        project: the project whose registry and artifact store hold the model.
        ref: model reference, e.g. ``churn@champion`` or ``churn:3``.
        strict_categories: passed to :class:`~conveyor.bundle.runtime.BundleRuntime`.
        strict_ranges: passed to the runtime.
        extra: ``"ignore"`` or ``"reject"`` unknown request fields.
        reload_interval_s: seconds between polls of the reference (0: no polling).

    Example:
        >>> holder = ModelHolder(project, "churn@champion")  # doctest: +SKIP
        >>> holder.load()  # doctest: +SKIP
        >>> holder.current.runtime.predict_records([record])  # doctest: +SKIP
    """

    def __init__(
        self,
        project: Project,
        ref: str,
        *,
        strict_categories: bool = True,
        strict_ranges: bool = False,
        extra: Literal["ignore", "reject"] = "ignore",
        reload_interval_s: float = 2.0,
    ) -> None:
        self.project = project
        self.ref = ref
        self.reload_interval_s = reload_interval_s
        self._runtime_options: dict[str, Any] = {
            "strict_categories": strict_categories,
            "strict_ranges": strict_ranges,
            "extra": extra,
        }
        self._current: ServedModel | None = None
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="conveyor-serve-"))
        self.last_error: str | None = None

    @property
    def current(self) -> ServedModel | None:
        """The served model (None until the first load succeeds); read it once per request."""
        return self._current

    @property
    def ready(self) -> bool:
        return self._current is not None

    def load(self) -> ServedModel:
        """Load the version the reference points at now (a no-op when it is already served).

        Raises:
            NotFound: the model, version or alias does not exist.
            ModelError: the bundle fails verification or cannot be loaded.
        """
        with self._load_lock:
            version = self.project.registry.resolve(self.ref)
            current = self._current
            if current is not None and current.version.id == version.id:
                return current
            served = self._load_version(version)
            self._current = served  # one reference assignment: atomic for readers
            self.last_error = None
            if current is not None:
                log.warning("serving %s v%d (was v%d)", served.name, served.number, current.number)
                # The old runtime lives in memory; requests holding it do not need its files.
                shutil.rmtree(current.path, ignore_errors=True)
            return served

    def reload(self) -> ServedModel:
        """Re-resolve the reference and swap to the version it names now (for admin use)."""
        return self.load()

    def _load_version(self, version: ModelVersion) -> ServedModel:
        from conveyor.bundle.runtime import BundleRuntime
        from conveyor.registry import fetch_bundle

        dest = Path(tempfile.mkdtemp(prefix=f"v{version.version}-", dir=self._tmp)) / "bundle"
        try:
            loaded = fetch_bundle(self.project.artifacts, version, dest)
            runtime = BundleRuntime(loaded, **self._runtime_options)
        except BaseException:
            shutil.rmtree(dest.parent, ignore_errors=True)
            raise
        for warning in loaded.warnings:
            log.warning("%s v%d: %s", version.model_name, version.version, warning)
        return ServedModel(
            version=version, runtime=runtime, loaded_at=datetime.now(UTC), path=dest.parent
        )

    # ------------------------------------------------------------ background polling

    def start(self) -> None:
        """Start the thread that loads the model (if not loaded) and then polls the reference."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll, name="conveyor-model-reload", daemon=True
        )
        self._thread.start()

    def _poll(self) -> None:
        interval = self.reload_interval_s
        while not self._stop.is_set():
            try:
                self.load()
            except Exception as exc:  # keep serving the old model; report on /ready and in logs
                message = f"{type(exc).__name__}: {exc}"
                if message != self.last_error:
                    log.error("loading %s failed: %s", self.ref, message)
                self.last_error = message
            if interval <= 0 and self._current is not None:
                return
            self._stop.wait(interval if interval > 0 else 1.0)

    def close(self) -> None:
        """Stop polling and remove the temporary bundle directories."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        shutil.rmtree(self._tmp, ignore_errors=True)
