"""Build an :class:`~conveyor.automate.agent.Agent` from a project's config and stores.

The composition root (``conveyor.project``) hands in the two operations this
layer cannot perform itself — computing the metric snapshot (``conveyor
monitor``) and running the pipeline — and this module wires the rest from
the ``triggers``, ``alerts``, ``agent``, ``serve.canary`` and ``monitor``
sections.

Example:
    >>> agent = build_agent(config, root=root, store=store, registry=registry,
    ...                     metrics=snapshot, retrain=retrain)  # doctest: +SKIP
    >>> agent.check().fired  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.automate._live_stats import live_version_stats
from conveyor.automate.agent import Agent
from conveyor.automate.alerts import AlertDispatcher, build_sinks
from conveyor.automate.canary import VersionStats
from conveyor.automate.store import AutomationStore
from conveyor.automate.triggers import Locate, MetricsProvider, compile_triggers
from conveyor.config._monitoring import parse_duration

if TYPE_CHECKING:
    from conveyor.automate._retrain import RetrainOutcome
    from conveyor.config.models import ConveyorConfig
    from conveyor.registry import Registry
    from conveyor.stores.metadata import MetadataStore
    from conveyor.stores.prediction_log import LogLocation

__all__ = ["build_agent", "config_locator"]


def config_locator(source: str, lines: Mapping[tuple[str | int, ...], int]) -> Locate:
    """Key path -> ``conveyor.yaml:31: triggers[0].when`` (the line of the nearest known key).

    Example:
        >>> config_locator("conveyor.yaml", {("triggers", 0, "when"): 31})(("triggers", 0, "when"))
        'conveyor.yaml:31: triggers[0].when'
    """

    def locate(path: tuple[str | int, ...]) -> str:
        key = ""
        for part in path:
            key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
        probe = path
        while probe and probe not in lines:
            probe = probe[:-1]
        line = lines.get(probe)
        return f"{source}:{line}: {key}" if line else f"{source}: {key}"

    return locate


def build_agent(
    config: ConveyorConfig,
    *,
    root: Path,
    store: MetadataStore,
    registry: Registry,
    metrics: MetricsProvider,
    retrain: Callable[[], RetrainOutcome],
    log_root: Path | LogLocation | None = None,
    clock: Callable[[], datetime] | None = None,
    wait: Callable[[float], bool] | None = None,
    holder: str | None = None,
    locate: Locate | None = None,
) -> Agent:
    """The agent of ``config``'s model.

    Args:
        config: the project's config.
        root: the project directory (relative alert log paths, the prediction log).
        store: the metadata store.
        registry: the model registry.
        metrics: window seconds -> metric snapshot.
        retrain: runs the pipeline once without moving the champion.
        log_root: the prediction log, a directory or a :class:`LogLocation`
            (default: ``<root>/.conveyor/predictions``).
        clock: the current time (default: the system clock, UTC).
        wait: between ticks (default: sleep ``agent.interval``, woken by a stop).
        holder: the lock holder id.
        locate: key path -> where in the config file (for trigger errors).

    Raises:
        ConfigError: a trigger does not parse.
    """
    from conveyor.stores.prediction_log import default_log_root

    clock = clock or (lambda: datetime.now(UTC))
    triggers = compile_triggers(
        config.triggers, default_cooldown=config.alerts.cooldown, locate=locate
    )
    automation = AutomationStore(store)
    dispatcher = AlertDispatcher(
        automation,
        build_sinks(config.alerts, root=root),
        cooldown_s=parse_duration(config.alerts.cooldown),
        clock=clock,
    )
    logs = log_root if log_root is not None else default_log_root(root)
    model = config.model_name

    def version_stats(version: int, since: datetime, until: datetime) -> VersionStats:
        return live_version_stats(
            logs, store, model, version, since=since, until=until, task=config.task
        )

    canary = config.serve.canary
    return Agent(
        model=model,
        automation=automation,
        registry=registry,
        triggers=triggers,
        metrics=metrics,
        retrain=retrain,
        alerts=dispatcher,
        config=config.agent,
        canary_alias=canary.alias if canary is not None else None,
        canary_traffic=canary.traffic if canary is not None else None,
        version_stats=version_stats,
        min_labels=config.monitor.min_labels,
        default_window_s=parse_duration(config.monitor.window),
        clock=clock,
        wait=wait,
        holder=holder,
    )
