"""Evaluating triggers once: which fire, which are quiet, which lack data.

A pure function of the compiled triggers, a metric provider and what the
store remembers (when each trigger last fired and was last checked), so the
agent, ``conveyor check`` and the tests all decide the same way.

Rules:

- a condition over a metric without a value (None: not enough data) is not
  true; the result says ``not_enough_data`` and names the metrics;
- a trigger with a schedule is *due* when a scheduled time passed since it
  was last checked; the first check only arms the schedule. A schedule alone
  fires when due; with a condition, the condition is evaluated when due;
- a trigger whose condition holds but that fired less than its cooldown ago
  is ``cooldown``, not fired;
- metrics that cannot be computed (a :class:`ConveyorError` of the provider,
  e.g. no model registered yet) make the conditions over that window
  ``not_enough_data`` with the error; the other triggers are unaffected.

Example:
    >>> results = evaluate_triggers(triggers, lambda window: {"drift.share": 0.4},
    ...                             now=now, last_fired={}, last_checked={})  # doctest: +SKIP
    >>> [(r.trigger, r.status) for r in results]  # doctest: +SKIP
    [('drift', 'fired')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from conveyor.automate.triggers import MetricsProvider, Snapshot, Trigger
from conveyor.errors import ConveyorError

__all__ = [
    "TriggerResult",
    "TriggerStatus",
    "evaluate_triggers",
    "format_elapsed",
    "format_seconds",
]

TriggerStatus = Literal["fired", "quiet", "not_enough_data", "cooldown", "not_due"]


@dataclass(frozen=True)
class TriggerResult:
    """The outcome of evaluating one trigger once.

    Attributes:
        status: fired | quiet | not_enough_data | cooldown | not_due.
        reason: one sentence for people (``drift.share 0.41 > 0.3 over 7d``).
        values: the metrics the condition read (None: no value).
        missing: the metrics that had no value.
        window_s: the window the metrics cover (None: the monitor's default).
        window: that window as written (``7d``).
        next_due: for schedules, the next scheduled time.
        error: why the metrics could not be computed (the condition is then unknown).
    """

    trigger: str
    action: str
    status: TriggerStatus
    reason: str
    evaluated_at: datetime
    condition: str | None = None
    schedule: str | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    window_s: float | None = None
    window: str | None = None
    next_due: datetime | None = None
    cooldown_s: float | None = None
    error: str | None = None

    @property
    def fired(self) -> bool:
        return self.status == "fired"

    def evidence(self) -> dict[str, Any]:
        """What the trigger saw, for firings, alerts and decisions."""
        out: dict[str, Any] = {
            "trigger": self.trigger,
            "action": self.action,
            "status": self.status,
            "reason": self.reason,
            "evaluated_at": self.evaluated_at.isoformat(),
        }
        if self.condition is not None:
            out.update(condition=self.condition, values=dict(self.values))
            out["window"] = self.window or "monitor.window"
        if self.schedule is not None:
            out["schedule"] = self.schedule
        if self.missing:
            out["missing"] = list(self.missing)
        return out


def format_seconds(seconds: float | None) -> str:
    """``7d``, ``12h``, ``15m``, ``90s`` (the largest unit that divides evenly)."""
    if seconds is None:
        return "-"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def evaluate_triggers(
    triggers: Sequence[Trigger],
    metrics: MetricsProvider,
    *,
    now: datetime,
    last_fired: Mapping[str, datetime],
    last_checked: Mapping[str, datetime],
    default_window_s: float | None = None,
) -> list[TriggerResult]:
    """Evaluate every trigger once (see the module docstring for the rules).

    Args:
        triggers: from :func:`~conveyor.automate.triggers.compile_triggers`.
        metrics: window in seconds (None: default) -> metric snapshot; called
            at most once per distinct window, and only when a condition is due.
        now: the time of this evaluation (UTC).
        last_fired: trigger name -> when it last fired.
        last_checked: trigger name -> when it was last evaluated.
        default_window_s: the window of conditions without ``over`` (``monitor.window``),
            so that ``over 7d`` and the default 7d share one snapshot.
    """
    snapshots: dict[float | None, Snapshot | ConveyorError] = {}

    def snapshot(window: float | None) -> Snapshot:
        window = default_window_s if window is None else window
        if window not in snapshots:
            try:
                snapshots[window] = metrics(window)
            except ConveyorError as exc:  # one failing window must not hide the others
                snapshots[window] = exc
        got = snapshots[window]
        if isinstance(got, ConveyorError):
            raise got
        return got

    return [
        _evaluate(t, snapshot, now, last_fired.get(t.name), last_checked.get(t.name))
        for t in triggers
    ]


def _evaluate(
    trigger: Trigger,
    snapshot: Any,
    now: datetime,
    fired_at: datetime | None,
    checked_at: datetime | None,
) -> TriggerResult:
    base: dict[str, Any] = {
        "trigger": trigger.name,
        "action": trigger.action,
        "evaluated_at": now,
        "condition": trigger.condition.text if trigger.condition else None,
        "schedule": trigger.schedule.text if trigger.schedule else None,
        "window_s": trigger.condition.window_s if trigger.condition else None,
        "window": trigger.condition.window if trigger.condition else None,
        "cooldown_s": trigger.cooldown_s,
    }
    scheduled = ""
    if trigger.schedule is not None:
        next_due = trigger.schedule.next_after(now)
        base["next_due"] = next_due
        if checked_at is None:
            return TriggerResult(
                status="not_due",
                reason=f"schedule armed; first run at {next_due:%Y-%m-%d %H:%M} UTC",
                **base,
            )
        if not trigger.schedule.due(checked_at, now):
            return TriggerResult(
                status="not_due", reason=f"next run at {next_due:%Y-%m-%d %H:%M} UTC", **base
            )
        scheduled = f"scheduled ({trigger.schedule.text})"
    if trigger.condition is None:
        return _cooled(TriggerResult(status="fired", reason=scheduled, **base), fired_at, now)
    cond = trigger.condition
    try:
        values = cond.values(snapshot(cond.window_s))
    except ConveyorError as exc:
        return TriggerResult(
            status="not_enough_data",
            reason=f"metrics unavailable: {exc.headline}",
            values=dict.fromkeys(cond.metrics),
            missing=cond.metrics,
            error=exc.headline,
            **base,
        )
    missing = tuple(name for name, value in values.items() if value is None)
    outcome = cond.evaluate(values)
    window = f" over {cond.window}" if cond.window else ""
    shown = ", ".join(f"{k} {_fmt(v)}" for k, v in values.items())
    if outcome is None:
        return TriggerResult(
            status="not_enough_data",
            reason=f"not enough data for {', '.join(missing)}{window}",
            values=values,
            missing=missing,
            **base,
        )
    if not outcome:
        return TriggerResult(
            status="quiet",
            reason=f"{cond.text} is false ({shown})",
            values=values,
            missing=missing,
            **base,
        )
    reason = f"{cond.text} ({shown})" + (f"; {scheduled}" if scheduled else "")
    fired = TriggerResult(status="fired", reason=reason, values=values, missing=missing, **base)
    return _cooled(fired, fired_at, now)


def _cooled(result: TriggerResult, fired_at: datetime | None, now: datetime) -> TriggerResult:
    cooldown = result.cooldown_s
    if cooldown is None or fired_at is None:
        return result
    ago = (now - fired_at).total_seconds()
    if ago >= cooldown:
        return result
    from dataclasses import replace

    return replace(
        result,
        status="cooldown",
        reason=f"{result.reason}; fired {format_elapsed(ago)} ago, "
        f"quiet for {format_seconds(cooldown)} (cooldown)",
    )


def format_elapsed(seconds: float) -> str:
    """A rounded human duration: ``45s``, ``18m``, ``5h``, ``3d``."""
    for unit, size, limit in (("d", 86400, 172800), ("h", 3600, 7200), ("m", 60, 120)):
        if seconds >= limit:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"
