"""Config sections of monitoring and automation: ``monitor``, ``alerts``, ``triggers``, ``agent``.

Example ``conveyor.yaml`` fragment::

    monitor:
      window: 7d
      slices: [contract]
      drift:
        share_threshold: 0.3
        columns:
          tenure: {method: psi, threshold: 0.25}
          customer_id: {skip: true}
    alerts:
      cooldown: 1h
      sinks:
        - {type: webhook, url: "${env:SLACK_WEBHOOK}"}
        - {type: log}
    triggers:
      - {name: accuracy_drop, when: "performance.accuracy < 0.92 over 7d", action: retrain}
      - {name: nightly, schedule: "0 2 * * *", action: retrain}
    agent:
      interval: 1m
      canary: {min_requests: 200, min_duration: 10m}

Durations are written ``<number><unit>`` with unit ``s``, ``m``, ``h``, ``d`` or
``w`` (``90s``, ``15m``, ``7d``) and validated with :func:`parse_duration`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from conveyor.config._section import Section

__all__ = [
    "AgentCanaryConfig",
    "AgentConfig",
    "AlertSinkConfig",
    "AlertsConfig",
    "ColumnDriftConfig",
    "DriftConfig",
    "Duration",
    "MonitorConfig",
    "TriggerConfig",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration written ``<number><unit>`` (units s, m, h, d, w).

    Example:
        >>> parse_duration("7d"), parse_duration("90s"), parse_duration("1.5h")
        (604800.0, 90.0, 5400.0)

    Raises:
        ValueError: the text is not a positive duration (the message says the format).
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write <number><unit> with unit s, m, h, d or w "
            "(e.g. 30s, 15m, 7d)"
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be greater than zero")
    return seconds


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text.strip()


Duration = Annotated[str, AfterValidator(_check_duration)]
"""A duration string such as ``7d``; :func:`parse_duration` turns it into seconds."""


# ---------------------------------------------------------------- monitor


class ColumnDriftConfig(Section):
    """Per-column override of the drift method and threshold."""

    skip: bool = False
    method: Literal["auto", "ks", "wasserstein", "psi", "chi2", "jensenshannon"] = "auto"
    threshold: float | None = Field(
        default=None,
        gt=0.0,
        description="p-value for ks/chi2, distance for wasserstein/psi/jensenshannon.",
    )


class DriftConfig(Section):
    """How drift is decided (see docs/monitoring.md)."""

    share_threshold: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Dataset drift when the drifted share exceeds."
    )
    alpha: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        description=(
            "Family-wise false-alarm rate (Bonferroni over columns): the level of the tests, and "
            "of the sample-size floor under the distance thresholds."
        ),
    )
    large_sample: int = Field(
        default=1000, ge=10, description="From this many current rows, distances replace tests."
    )
    numeric_method: Literal["auto", "ks", "wasserstein", "psi"] = "auto"
    categorical_method: Literal["auto", "chi2", "jensenshannon"] = "auto"
    wasserstein_threshold: float = Field(default=0.1, gt=0.0)
    psi_threshold: float = Field(default=0.2, gt=0.0)
    jensenshannon_threshold: float = Field(default=0.1, gt=0.0)
    missing_rate_threshold: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="Large samples: a change of the missing rate (absolute) that counts as drift.",
    )
    columns: dict[str, ColumnDriftConfig] = Field(default_factory=dict)


class MonitorConfig(Section):
    """What ``conveyor monitor`` computes by default."""

    window: Duration = "7d"
    drift: DriftConfig = Field(default_factory=DriftConfig)
    slices: list[str] = Field(
        default_factory=list, description="Input columns to break live performance down by."
    )
    min_labels: int = Field(
        default=30, ge=1, description="Fewest labelled predictions behind a performance figure."
    )


# ---------------------------------------------------------------- alerts


class AlertSinkConfig(Section):
    """Where an alert goes: a webhook (Slack-compatible JSON), the log, or a command."""

    type: Literal["webhook", "log", "command"]
    url: str | None = Field(default=None, description="webhook: the URL to POST to.")
    headers: dict[str, str] = Field(default_factory=dict)
    format: Literal["slack", "json"] = Field(
        default="slack",
        description="webhook: 'slack' (text + attachment) or 'json' (the alert record as is).",
    )
    timeout_s: float = Field(default=5.0, gt=0.0)
    retries: int = Field(default=3, ge=0, le=10)
    command: list[str] | None = Field(
        default=None,
        description="command: argv list (no shell); the alert JSON arrives on stdin.",
    )
    path: str | None = Field(default=None, description="log: a file to append JSON lines to.")

    @model_validator(mode="after")
    def _fields_for_type(self) -> AlertSinkConfig:
        if self.type == "webhook" and not self.url:
            raise ValueError("a webhook sink needs 'url'")
        if self.type == "webhook" and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {self.url!r}")
        if self.type == "command" and not self.command:
            raise ValueError("a command sink needs 'command' (a list: program and arguments)")
        return self


class AlertsConfig(Section):
    """Alert sinks, deduplication and cooldown."""

    sinks: list[AlertSinkConfig] = Field(default_factory=lambda: [AlertSinkConfig(type="log")])
    cooldown: Duration = Field(
        default="1h", description="A condition that stays true alerts again only after this."
    )


# ---------------------------------------------------------------- triggers


class TriggerConfig(Section):
    """A condition and/or a schedule that takes an action.

    ``when`` alone is evaluated on every agent tick; ``schedule`` alone fires on
    the cron schedule; with both, the condition is evaluated at scheduled times.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    when: str | None = Field(
        default=None, description="e.g. performance.accuracy < 0.92 over 7d or drift.share > 0.3"
    )
    schedule: str | None = Field(default=None, description="cron expression, e.g. 0 2 * * *")
    action: Literal["retrain", "alert", "rollback"]
    cooldown: Duration | None = Field(
        default=None,
        description="The trigger is quiet this long after firing. Default: alerts.cooldown for "
        "a condition; none for a schedule alone.",
    )

    @model_validator(mode="after")
    def _condition_or_schedule(self) -> TriggerConfig:
        if not (self.when or self.schedule):
            raise ValueError(f"trigger {self.name!r} needs 'when', 'schedule' or both")
        return self


# ---------------------------------------------------------------- agent


class AgentCanaryConfig(Section):
    """How a retrained challenger is tried on live traffic before promotion.

    The traffic share is the server's ``serve.canary.traffic``: the agent sets
    the ``serve.canary.alias`` on the new version and the server routes to it.
    """

    min_requests: int = Field(default=200, ge=1)
    min_duration: Duration = "10m"
    max_duration: Duration = Field(
        default="24h", description="Without enough evidence by then, the challenger is rolled back."
    )
    max_error_rate_increase: float = Field(
        default=0.01,
        ge=0.0,
        description="Challenger minus champion share of errors and fallback answers.",
    )
    max_latency_ratio: float = Field(
        default=1.5, gt=0.0, description="Challenger p99 latency over the champion's."
    )
    max_prediction_drift: float = Field(
        default=0.2, gt=0.0, description="Distance between the two versions' prediction mixes."
    )
    min_performance_delta: float = Field(
        default=0.0,
        description="Challenger minus champion on the primary live metric, where labelled.",
    )


class AgentConfig(Section):
    """``conveyor agent``: the loop that watches, retrains, canaries and promotes."""

    interval: Duration = "1m"
    canary: AgentCanaryConfig = Field(default_factory=AgentCanaryConfig)
    lock_ttl: Duration = Field(
        default="2h",
        description="A lock not renewed for this long (its agent died) is taken over; a working "
        "agent renews its lock.",
    )

    @field_validator("interval")
    @classmethod
    def _not_too_fast(cls, value: str) -> str:
        if parse_duration(value) < 1.0:
            raise ValueError(f"agent.interval {value!r} is under 1s")
        return value
