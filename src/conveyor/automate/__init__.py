"""Automation: triggers, alerts and the retraining agent.

::

    triggers.py     conditions (safe grammar over metric names) and cron schedules
    evaluation.py   evaluate triggers once: fired / quiet / not enough data / cooldown / not due
    alerts.py       Alert, sinks (webhook, log, command), dedup + cooldown, history
    canary.py       the promote / reject rule of a canary (live_version_stats: its figures)
    agent.py        Agent: tick() and run(); check() for ``conveyor check``
    store.py        alerts, firings, trigger state, decisions and locks in the metadata store

Example:
    >>> from conveyor.automate import parse_condition
    >>> parse_condition("drift.share > 0.3 over 1d").window_s
    86400.0
"""

from __future__ import annotations

from conveyor.automate._live_stats import live_version_stats
from conveyor.automate._records import AlertRecord, DecisionRecord, FiringRecord, LockInfo
from conveyor.automate._retrain import RetrainOutcome
from conveyor.automate.agent import Agent, AgentStopped, CheckReport, RunSummary, TickReport
from conveyor.automate.alerts import (
    Alert,
    AlertDispatcher,
    AlertOutcome,
    AlertSink,
    CommandSink,
    DeliveryError,
    LogSink,
    WebhookSink,
    build_sinks,
)
from conveyor.automate.canary import (
    CanaryCheck,
    CanaryVerdict,
    VersionStats,
    decide_canary,
    prediction_distance,
)
from conveyor.automate.evaluation import TriggerResult, evaluate_triggers
from conveyor.automate.store import AutomationStore
from conveyor.automate.triggers import (
    KNOWN_METRICS,
    Condition,
    MetricsProvider,
    Schedule,
    Trigger,
    check_triggers,
    compile_triggers,
    parse_condition,
    parse_schedule,
)

__all__ = [
    "KNOWN_METRICS",
    "Agent",
    "AgentStopped",
    "Alert",
    "AlertDispatcher",
    "AlertOutcome",
    "AlertRecord",
    "AlertSink",
    "AutomationStore",
    "CanaryCheck",
    "CanaryVerdict",
    "CheckReport",
    "CommandSink",
    "Condition",
    "DecisionRecord",
    "DeliveryError",
    "FiringRecord",
    "LockInfo",
    "LogSink",
    "MetricsProvider",
    "RetrainOutcome",
    "RunSummary",
    "Schedule",
    "TickReport",
    "Trigger",
    "TriggerResult",
    "VersionStats",
    "WebhookSink",
    "build_sinks",
    "check_triggers",
    "compile_triggers",
    "decide_canary",
    "evaluate_triggers",
    "live_version_stats",
    "parse_condition",
    "parse_schedule",
    "prediction_distance",
]
