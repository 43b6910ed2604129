"""Trigger conditions and schedules: parsed once, with errors that point at the column.

A condition is an expression of the safe grammar of
:mod:`conveyor.features.expressions` over metric names, optionally followed by
a window::

    performance.accuracy < 0.92 over 7d
    drift.share > 0.3 and data.rows >= 500
    latency.p99_ms > 50 or errors.rate > 0.01

The metric names are the ones ``conveyor monitor`` produces
(:data:`KNOWN_METRICS`); any other name is an error that lists them and
suggests the closest. ``over <duration>`` must come last and sets the window
the metrics are computed over (default: ``monitor.window``). A schedule is a
five-field cron expression (``0 2 * * *``), evaluated in UTC.

Example:
    >>> cond = parse_condition("drift.share > 0.3 over 1d")
    >>> cond.window_s, cond.metrics
    (86400.0, ('drift.share',))
    >>> cond.evaluate({"drift.share": 0.5})
    True
    >>> cond.evaluate({"drift.share": None}) is None  # not enough data
    True
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from conveyor.config._monitoring import parse_duration
from conveyor.errors import ConfigError
from conveyor.features._expr_lexer import expression_error
from conveyor.monitor._names import SNAPSHOT_METRICS

if TYPE_CHECKING:
    from conveyor.config._monitoring import TriggerConfig
    from conveyor.features.expressions import Expr

__all__ = [
    "KNOWN_METRICS",
    "Condition",
    "Locate",
    "MetricsProvider",
    "Schedule",
    "Snapshot",
    "Trigger",
    "TriggerAction",
    "check_triggers",
    "compile_triggers",
    "parse_condition",
    "parse_schedule",
]

KNOWN_METRICS: tuple[str, ...] = SNAPSHOT_METRICS
"""Every metric a trigger may name: exactly what ``conveyor monitor`` produces."""

Snapshot = Mapping[str, "float | None"]
"""Metric name -> value; None (or absent, or NaN) means not enough data."""

MetricsProvider = Callable[["float | None"], Snapshot]
"""Window in seconds (None: the monitor's default window) -> a metric snapshot."""

TriggerAction = Literal["retrain", "alert", "rollback"]

# The last 'over' that is a word of its own; what follows it is the window.
_OVER = re.compile(r"(?<![\w.`'\"])over(?![\w.`'\"])", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    """A parsed condition: the expression, its window and the metrics it reads."""

    text: str
    expr: Expr
    window_s: float | None
    window: str | None
    metrics: tuple[str, ...]

    def values(self, snapshot: Snapshot) -> dict[str, float | None]:
        """The metrics this condition reads, from ``snapshot`` (NaN and absent become None)."""
        out: dict[str, float | None] = {}
        for name in self.metrics:
            value = snapshot.get(name)
            if isinstance(value, bool):
                value = float(value)
            if value is not None and (not isinstance(value, int | float) or math.isnan(value)):
                value = None
            out[name] = None if value is None else float(value)
        return out

    def evaluate(self, snapshot: Snapshot) -> bool | None:
        """True or False; None when a metric it needs has no value (not enough data).

        Unknowns follow three-valued logic: ``a > 1 or b > 1`` is True when
        ``b > 1`` holds even if ``a`` is unknown.
        """
        result = self.expr.evaluate(self.values(snapshot))
        return None if result is None else bool(result)


@dataclass(frozen=True)
class Schedule:
    """A cron schedule (five fields, UTC)."""

    text: str

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled time strictly after ``moment``."""
        from croniter import croniter

        return croniter(self.text, moment).get_next(datetime)

    def due(self, since: datetime, now: datetime) -> bool:
        """Whether a scheduled time lies in ``(since, now]``."""
        return self.next_after(since) <= now


@dataclass(frozen=True)
class Trigger:
    """A compiled trigger: a condition and/or a schedule, an action and a cooldown.

    ``cooldown_s`` applies to condition triggers (default ``alerts.cooldown``);
    a schedule-only trigger has none unless one is configured.
    """

    name: str
    action: TriggerAction
    condition: Condition | None
    schedule: Schedule | None
    cooldown_s: float | None


def parse_condition(
    text: str, *, source: str = "<trigger>", known: Sequence[str] = KNOWN_METRICS
) -> Condition:
    """Parse a trigger condition such as ``performance.accuracy < 0.92 over 7d``.

    Args:
        text: the condition.
        source: where it came from, the prefix of error messages
            (e.g. ``conveyor.yaml:31: triggers[0].when``).
        known: the metric names it may use.

    Raises:
        ConfigError: a syntax error, an unknown metric (listing the known ones,
            with a did-you-mean), a bad window, or an expression that is not a
            condition; the message points at the column with a caret.
    """
    from conveyor.features.expressions import parse_expression

    if not isinstance(text, str) or not text.strip():
        raise expression_error(
            str(text or ""), 0, "is empty; write e.g. 'drift.share > 0.3'", source=source
        )
    body, window, window_s = _split_window(text, source)
    expr = parse_expression(body, source=source)
    known_list = list(known)
    for pos, name in sorted((expr.position(c), c) for c in expr.columns):
        if name in known_list:
            continue
        if name.lower() == "over":
            raise expression_error(
                text,
                pos,
                "'over <duration>' must come last",
                source=source,
                hint="e.g. performance.accuracy < 0.92 over 7d",
            )
        close = difflib.get_close_matches(name, known_list, n=1, cutoff=0.6)
        raise expression_error(
            text,
            pos,
            f"unknown metric '{name}'",
            source=source,
            suggestion=f"did you mean '{close[0]}'?" if close else None,
            hint="known metrics: " + ", ".join(known_list),
        )
    kind = expr.check_types(dict.fromkeys(expr.columns, "number"), source=source)
    if kind not in ("bool", "any"):
        raise expression_error(
            text,
            0,
            f"is {'a number' if kind == 'number' else 'not a condition'} where a condition "
            "(true or false) is expected",
            source=source,
            hint="compare a metric with a threshold, e.g. drift.share > 0.3",
        )
    metrics = tuple(sorted(expr.columns, key=expr.position))
    return Condition(text=text, expr=expr, window_s=window_s, window=window, metrics=metrics)


def _split_window(text: str, source: str) -> tuple[str, str | None, float | None]:
    matches = [m for m in _OVER.finditer(text) if not _inside_quotes(text, m.start())]
    if not matches:
        return text, None, None
    match = matches[-1]
    body, rest = text[: match.start()], text[match.end() :]
    window = rest.strip()
    if not body.strip():
        raise expression_error(
            text, match.start(), "expected a condition before 'over'", source=source
        )
    if not window:
        raise expression_error(
            text,
            len(text.rstrip()),
            "expected a duration after 'over' (e.g. over 7d)",
            source=source,
        )
    at = match.end() + (len(rest) - len(rest.lstrip()))
    try:
        seconds = parse_duration(window)
    except ValueError:
        raise expression_error(
            text,
            at,
            f"'{window}' is not a window; 'over <duration>' comes last, with a duration "
            "such as 30m, 12h or 7d",
            source=source,
        ) from None
    return body, window, seconds


def _inside_quotes(text: str, pos: int) -> bool:
    quote: str | None = None
    i = 0
    while i < pos:
        ch = text[i]
        if quote is None and ch in "'\"`":
            quote = ch
        elif quote is not None and ch == "\\" and quote != "`":
            i += 1
        elif ch == quote:
            quote = None
        i += 1
    return quote is not None


def parse_schedule(text: str, *, source: str = "<schedule>") -> Schedule:
    """Validate a five-field cron expression (``minute hour day month weekday``).

    Raises:
        ConfigError: the expression is not a valid cron schedule (says which field).
    """
    from croniter import croniter

    fields = text.split() if isinstance(text, str) else []
    prefix = "" if source == "<schedule>" else f"{source}: "
    if len(fields) != 5:
        raise ConfigError(
            f"{prefix}schedule {text!r} has {len(fields)} field(s); a cron schedule has 5: "
            "minute hour day-of-month month day-of-week",
            hint='e.g. "0 2 * * *" (every day at 02:00 UTC) or "*/15 * * * *"',
        )
    if not croniter.is_valid(text):
        names = ("minute", "hour", "day-of-month", "month", "day-of-week")
        bad = []
        for i, (name, value) in enumerate(zip(names, fields, strict=True)):
            probe = ["*"] * 5
            probe[i] = value
            if not croniter.is_valid(" ".join(probe)):
                bad.append(f"{name} {value!r}")
        detail = f" (bad field: {', '.join(bad)})" if bad else ""
        raise ConfigError(
            f"{prefix}schedule {text!r} is not a valid cron expression{detail}",
            hint="fields: minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6",
        )
    return Schedule(" ".join(fields))


Locate = Callable[[tuple[str | int, ...]], str]
"""Key path (``("triggers", 0, "when")``) -> where it is, for error messages."""


def compile_triggers(
    configs: Sequence[TriggerConfig],
    *,
    default_cooldown: str,
    locate: Locate | None = None,
    known: Sequence[str] = KNOWN_METRICS,
) -> list[Trigger]:
    """Parse every trigger of the config.

    Args:
        configs: the ``triggers`` section.
        default_cooldown: ``alerts.cooldown``, for condition triggers without one.
        locate: key path -> where it is (e.g. ``conveyor.yaml:31: triggers[0].when``);
            default: the key path alone.
        known: the metric names conditions may use.

    Raises:
        ConfigError: the first trigger that does not parse.
    """
    where = locate or _key_path
    compiled = []
    for index, cfg in enumerate(configs):
        condition = (
            parse_condition(cfg.when, source=where(("triggers", index, "when")), known=known)
            if cfg.when
            else None
        )
        schedule = (
            parse_schedule(cfg.schedule, source=where(("triggers", index, "schedule")))
            if cfg.schedule
            else None
        )
        if cfg.cooldown is not None:
            cooldown: float | None = parse_duration(cfg.cooldown)
        else:
            cooldown = parse_duration(default_cooldown) if condition is not None else None
        compiled.append(Trigger(cfg.name, cfg.action, condition, schedule, cooldown))
    return compiled


def check_triggers(config: object, *, locate: Locate | None = None) -> None:
    """Raise :class:`ConfigError` for the first trigger of ``config`` that does not parse.

    Example:
        >>> check_triggers(loaded.config)  # doctest: +SKIP
    """
    triggers = getattr(config, "triggers", None) or []
    alerts = getattr(config, "alerts", None)
    cooldown = alerts.cooldown if alerts is not None else "1h"
    compile_triggers(triggers, default_cooldown=cooldown, locate=locate)


def _key_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
