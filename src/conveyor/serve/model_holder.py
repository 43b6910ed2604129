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
        challenger_ref: optional second reference (``churn@challenger``) for canary
            or shadow scoring, reloaded the same way; when it names nothing the
            challenger is None and :attr:`challenger_warning` says why.

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
        challenger_ref: str | None = None,
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
        self.challenger_ref = challenger_ref
        self._challenger: ServedModel | None = None
        self.challenger_warning: str | None = None
        self._previous: ServedModel | None = None

    @property
    def current(self) -> ServedModel | None:
        """The served model (None until the first load succeeds); read it once per request."""
        return self._current

    @property
    def challenger(self) -> ServedModel | None:
        """The challenger model (None when not configured, not loaded or its alias is unset)."""
        return self._challenger

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

    def load_challenger(self) -> ServedModel | None:
        """Load the version the challenger reference points at now (None: none configured or set).

        An unset alias or missing model is not an error: canary and shadow are
        off until it exists, and :attr:`challenger_warning` says so.

        Raises:
            ModelError: the challenger bundle fails verification or cannot be loaded.
        """
        from conveyor.errors import NotFound

        if self.challenger_ref is None:
            return None
        with self._load_lock:
            current = self._challenger
            try:
                version = self.project.registry.resolve(self.challenger_ref)
            except NotFound as exc:
                message = f"challenger {self.challenger_ref} is not set ({exc}): canary/shadow off"
                if message != self.challenger_warning:
                    log.warning("%s", message)
                self.challenger_warning = message
                self._challenger = None
                if current is not None:
                    shutil.rmtree(current.path, ignore_errors=True)
                return None
            if current is not None and current.version.id == version.id:
                return current
            served = self._load_version(version)
            self._challenger = served
            self.challenger_warning = None
            if current is not None:
                log.warning(
                    "challenger %s v%d (was v%d)", served.name, served.number, current.number
                )
                shutil.rmtree(current.path, ignore_errors=True)
            return served

    def previous(self) -> ServedModel | None:
        """The version the champion's alias pointed to before the served one (loaded lazily).

        None when the alias history shows no earlier version.
        """
        served = self._current
        if served is None or "@" not in self.ref:
            return None
        alias = self.ref.split("@", 1)[1]
        moves = self.project.registry.history(served.name, alias)
        before = [
            m.from_version
            for m in moves
            if m.to_version == served.number and m.from_version is not None
        ]
        if not before:
            return None
        number = before[-1]
        cached = self._previous
        if cached is not None and cached.number == number:
            return cached
        with self._load_lock:
            version = self.project.registry.resolve(f"{served.name}:{number}")
            loaded = self._load_version(version)
            old, self._previous = self._previous, loaded
        if old is not None:
            shutil.rmtree(old.path, ignore_errors=True)
        return loaded

    def reload(self) -> ServedModel:
        """Re-resolve both references and swap to the versions they name now (for admin use)."""
        served = self.load()
        self.load_challenger()
        return served

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
            try:
                self.load_challenger()
            except Exception as exc:  # the champion keeps answering; the challenger stays as it was
                message = (
                    f"loading challenger {self.challenger_ref} failed: {type(exc).__name__}: {exc}"
                )
                if message != self.challenger_warning:
                    log.error("%s", message)
                self.challenger_warning = message
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
