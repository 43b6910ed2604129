"""``conveyor monitor``: drift, data quality, live performance and serving health of a window.

The prediction log is read with Polars (only the needed columns and hours of
the window), feedback is read from the metadata store and joined on
``prediction_id``, and the result is a :class:`MonitorResult` with a flat
metric snapshot (:meth:`MonitorResult.metrics`) for triggers and CI, stored as
a time series in the metadata store.

Which rows count for what:

- *primary version*: ``version`` when given; else the version the serving
  alias (``champion``) names when it answered in the window; else the newest
  version that did. Drift and data quality are judged on the primary
  version's predictions against its own reference statistics and signature.
- live performance and serving health cover every version in the window
  (overall: what callers got, shadow rows excluded; and per version).

Example:
    >>> result = monitor_model("churn", store=store, artifacts=artifacts,
    ...                        registry=registry, log_root=log_root)  # doctest: +SKIP
    >>> result.metrics()["drift.share"]  # doctest: +SKIP
    0.1
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from conveyor.config._monitoring import MonitorConfig
from conveyor.errors import ConfigError
from conveyor.monitor import _log_reader as logs
from conveyor.monitor._health import serving_health
from conveyor.monitor._labels import check_labels, label_key, read_feedback
from conveyor.monitor._names import SNAPSHOT_METRICS
from conveyor.monitor._performance import (
    REPORTED_METRICS,
    ScoringSpec,
    bucket_edges,
    live_performance,
)
from conveyor.monitor._quality import data_quality, typed_inputs
from conveyor.monitor._results import metric_rows, result_dict, snapshot
from conveyor.monitor._series import save_monitor_run
from conveyor.monitor._versions import VersionInfo, load_version_info, pick_primary
from conveyor.monitor._window import resolve_window
from conveyor.monitor.drift import DriftReport, drift_from_reference

if TYPE_CHECKING:
    from conveyor.registry import Registry
    from conveyor.stores.artifacts import ArtifactStore
    from conveyor.stores.metadata import MetadataStore

__all__ = ["SNAPSHOT_METRICS", "MonitorResult", "monitor_model", "resolve_window"]

_PREDICTION = "prediction"


@dataclass(frozen=True)
class MonitorResult:
    """What ``conveyor monitor`` found in one window.

    Attributes:
        model: the model name.
        versions: versions with predictions in the window.
        window_start: start of the window (inclusive, UTC).
        window_end: end of the window (exclusive, UTC).
        n_predictions: predictions served in the window (shadow rows excluded).
        n_labelled: of those, how many have usable feedback.
        drift: per-feature and prediction drift of the primary version, or None
            when it has no predictions in the window.
        quality: data quality of the primary version's inputs.
        performance: live performance (overall, per version, per slice, over time).
        health: latency, error and fallback rates (overall and per version).
        primary_version: the version drift and quality are judged by.
        serving_version: the version the serving alias names (None without one).
        new_rows: predictions logged since the serving version was registered.
        task: binary, multiclass or regression.
        notes: what to know when reading the figures (e.g. nothing to monitor).
        run_id: the stored monitor run, when stored.
    """

    model: str
    versions: list[int]
    window_start: datetime
    window_end: datetime
    n_predictions: int
    n_labelled: int
    drift: DriftReport | None
    quality: dict[str, Any]
    performance: dict[str, Any]
    health: dict[str, Any]
    primary_version: int | None = None
    serving_version: int | None = None
    new_rows: int = 0
    task: str | None = None
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None

    @property
    def empty(self) -> bool:
        """True when the window holds no logged row at all: there was nothing to monitor.

        A window with only shadow rows is not empty: the shadow version has figures.
        """
        return not self.versions

    def metrics(self) -> dict[str, float | None]:
        """The flat snapshot (names in :data:`SNAPSHOT_METRICS`); None where data is too thin."""
        return snapshot(self)

    def live_metrics(self) -> dict[str, float]:
        """Overall live performance by evaluation metric name, for ``evaluate.gates``.

        Empty when fewer than ``monitor.min_labels`` predictions are labelled.
        """
        overall = self.performance.get("overall") or {}
        return dict(overall.get("metrics") or {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of everything (the JSON report and the stored summary)."""
        return result_dict(self)


def _columns(info: VersionInfo, slices: list[str]) -> list[str]:
    signature = info.signature
    unknown = [s for s in slices if s not in signature.input_names]
    if unknown:
        raise ConfigError(
            f"monitor.slices: {', '.join(map(repr, unknown))} "
            f"{'is not an input' if len(unknown) == 1 else 'are not inputs'} of v{info.version} "
            f"(inputs: {', '.join(signature.input_names)})"
        )
    base = ["prediction_id", "version", "ts", "status", "latency_ms", "fallback", "prediction"]
    if signature.is_classifier:
        base.append("probabilities")
    return base + [logs.log_column(f) for f in signature.input_names]


def _spec(info: VersionInfo, config: MonitorConfig) -> ScoringSpec:
    signature = info.signature
    classes = [str(c) for c in signature.classes] if signature.classes is not None else None
    positive = None if signature.positive_class is None else str(signature.positive_class)
    return ScoringSpec(
        task=signature.task, classes=classes, positive_class=positive, min_labels=config.min_labels
    )


def _labelled(
    frame: pl.DataFrame, feedback: pl.DataFrame, spec: ScoringSpec, columns: list[pl.Expr]
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The rows with usable feedback (only ``columns`` and ``label``), and the invalid count."""
    keys = frame.select(label_key(pl.col("prediction_id"), pl.col("status")).alias("prediction_id"))
    actual = keys.join(feedback, on="prediction_id", how="left", maintain_order="left")["actual"]
    check = check_labels(actual, task=spec.task, classes=spec.classes)
    labelled = frame.select(columns).with_columns(check.label.alias("label"))
    return labelled.filter(pl.col("label").is_not_null()), check.to_dict()


def _empty(model: str, start: datetime, end: datetime, **extra: Any) -> MonitorResult:
    return MonitorResult(
        model=model,
        versions=[],
        window_start=start,
        window_end=end,
        n_predictions=0,
        n_labelled=0,
        drift=None,
        quality={},
        performance={},
        health={"overall": None, "versions": {}},
        **extra,
    )


def _nothing_note(log_root: logs.LogRoot, model: str, start: datetime, end: datetime) -> str:
    span = logs.log_span(log_root, model)
    where = f"between {start.isoformat()} and {end.isoformat()}"
    if span is None:
        return (
            f"nothing to monitor: the prediction log at {log_root} holds no prediction of {model!r}"
        )
    last = span.last_hour + timedelta(hours=1)
    return (
        f"nothing to monitor: no prediction of {model!r} was logged {where}; the log holds "
        f"predictions of v{', v'.join(map(str, span.versions))} from "
        f"{span.first_hour.isoformat()} to {last.isoformat()}"
    )


def _window_figures(
    log_root: logs.LogRoot,
    model: str,
    info: VersionInfo,
    config: MonitorConfig,
    start: datetime,
    end: datetime,
    versions: list[int] | None,
    primary: int,
) -> tuple[pl.DataFrame, DriftReport | None, dict[str, Any], list[str]] | None:
    """Read the window; drift and data quality of the primary version. None: no rows."""
    frame = logs.read_window(
        log_root,
        model,
        columns=_columns(info, list(config.slices)),
        start=start,
        end=end,
        versions=versions,
    )
    if frame.height == 0:
        return None
    served = (pl.col("status") != logs.SHADOW_STATUS) & (pl.col("version") == primary)
    current = frame.filter(served).select(
        pl.col(logs.log_column(f)).alias(f) for f in info.signature.input_names
    )  # fields by their own names (a field called "status" is logged as "input_status")
    if not current.height:
        note = f"v{primary} served no prediction in the window: no drift or quality figures"
        return frame, None, {}, [note]
    # The model's output, named so that it cannot replace an input called "prediction".
    output = _PREDICTION if _PREDICTION not in current.columns else f"__{_PREDICTION}"
    typed = typed_inputs(current, info.signature).with_columns(
        frame.filter(served)["prediction"].alias(output)
    )
    drift = drift_from_reference(info.reference, typed, config.drift, prediction_column=output)
    return frame, drift, data_quality(current, info.signature), []


def monitor_model(
    model: str,
    *,
    store: MetadataStore,
    artifacts: ArtifactStore,
    registry: Registry,
    log_root: logs.LogRoot,
    config: MonitorConfig | None = None,
    version: int | None = None,
    serving_alias: str = "champion",
    since: datetime | None = None,
    window_s: float | None = None,
    until: datetime | None = None,
    store_results: bool = True,
) -> MonitorResult:
    """Monitor ``model`` over one window of its prediction log.

    Args:
        model: the registered model name.
        store: the metadata store (feedback in, results out).
        artifacts: the artifact store holding the versions' bundles.
        registry: the model registry.
        log_root: the prediction log (a directory, a URL or a ``LogLocation``).
        config: the ``monitor`` config section (default: its defaults).
        version: monitor only this version (default: every version in the window).
        serving_alias: the alias that names the serving version.
        since, window_s, until: the window (see :func:`resolve_window`).
        store_results: record the run and its figures in the metadata store.

    Returns:
        The result; when the window holds no prediction it is :attr:`~MonitorResult.empty`
        with a "nothing to monitor" note (and is not stored).

    Raises:
        NotFound: the model or version is not registered.
        DataError: the window is invalid.
        ConfigError: ``monitor.slices`` names a column the model does not take.
    """
    config = config or MonitorConfig()
    log_root = logs.location_of(log_root)
    start, end = resolve_window(
        since=since, window_s=window_s, until=until, default_window=config.window
    )
    aliases = registry.aliases(model)  # NotFound for an unknown model, listing the known ones
    serving = aliases.get(serving_alias)
    wanted = [int(version)] if version is not None else None
    if version is not None:
        registry.get(model, int(version))  # NotFound for an unknown version
    files = logs.log_files(log_root, model, versions=wanted, start=start, end=end)
    logged = sorted({logs.version_of(f) for f in files})
    primary = int(version) if version is not None else pick_primary(logged, serving)
    if primary is None or not files:
        return _empty(
            model,
            start,
            end,
            serving_version=serving,
            notes=[_nothing_note(log_root, model, start, end)],
        )
    info = load_version_info(registry, artifacts, model, primary)
    # Feedback comes from the database while Polars reads the log and checks drift.
    with ThreadPoolExecutor(1, thread_name_prefix="monitor-feedback") as pool:
        feedback = pool.submit(read_feedback, store, model, received_since=start)
        found = _window_figures(log_root, model, info, config, start, end, wanted, primary)
        labels = feedback.result()
    if found is None:
        return _empty(
            model,
            start,
            end,
            serving_version=serving,
            primary_version=primary,
            task=info.signature.task,
            notes=[_nothing_note(log_root, model, start, end)],
        )
    frame, drift, quality, notes = found
    spec = _spec(info, config)
    slices = {name: f"__slice_{i}" for i, name in enumerate(config.slices)}
    keep = [pl.col(c) for c in ("version", "ts", "status", "prediction")]
    keep += [pl.col("probabilities")] if info.signature.is_classifier else []
    keep += [pl.col(logs.log_column(name)).alias(alias) for name, alias in slices.items()]
    labelled, invalid = _labelled(frame, labels, spec, keep)
    performance = live_performance(
        labelled, spec, slices=slices, edges=bucket_edges(start, end), invalid=invalid
    )
    if invalid["count"]:
        notes.append(f"{invalid['count']} feedback label(s) ignored: {invalid['reason']}")
    since_registered = info.registered_at
    if serving is not None and serving != primary:
        since_registered = registry.get(model, serving).created_at
    result = MonitorResult(
        model=model,
        versions=sorted(int(v) for v in frame["version"].unique().to_list()),
        window_start=start,
        window_end=end,
        n_predictions=frame.filter(pl.col("status") != logs.SHADOW_STATUS).height,
        n_labelled=int(performance["labelled"]),
        drift=drift,
        quality=quality,
        performance=performance,
        health=serving_health(frame),
        primary_version=primary,
        serving_version=serving,
        new_rows=logs.count_rows(log_root, model, start=since_registered, end=end),
        task=info.signature.task,
        notes=notes,
    )
    if not store_results:
        return result
    run_id = save_monitor_run(
        store,
        model=model,
        versions=result.versions,
        window_start=start,
        window_end=end,
        n_predictions=result.n_predictions,
        n_labelled=result.n_labelled,
        summary=result.to_dict(),
        rows=metric_rows(result, REPORTED_METRICS.get(result.task or "", ())),
    )
    return dataclasses.replace(result, run_id=run_id)
