"""The ``[start, end)`` window of a monitor run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conveyor.config._monitoring import parse_duration
from conveyor.errors import DataError

__all__ = ["resolve_window"]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise DataError(
            f"monitor: {name} {value.isoformat()} has no time zone",
            hint="give a time zone, e.g. 2026-11-28T00:00:00Z or +01:00",
        )
    return value.astimezone(UTC)


def resolve_window(
    *,
    since: datetime | None,
    window_s: float | None,
    until: datetime | None,
    default_window: str = "7d",
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of a monitor run.

    ``end`` is ``until``, else ``since + window`` when both are given, else now;
    ``start`` is ``since``, else ``end - window`` (default ``monitor.window``).

    Raises:
        DataError: a naive datetime, a non-positive window, or start not before end.

    Example:
        >>> from datetime import datetime, UTC
        >>> resolve_window(since=None, window_s=3600.0, until=datetime(2026, 11, 29, tzinfo=UTC))[0]
        datetime.datetime(2026, 11, 28, 23, 0, tzinfo=datetime.timezone.utc)
    """
    if window_s is not None and not window_s > 0:
        raise DataError(f"monitor: the window must be longer than 0 s, got {window_s!r}")
    span = timedelta(seconds=window_s if window_s is not None else parse_duration(default_window))
    since = _aware(since, "--since") if since is not None else None
    if until is not None:
        end = _aware(until, "--until")
    elif since is not None and window_s is not None:
        end = since + span
    else:
        end = _aware(now, "now") if now is not None else datetime.now(UTC)
    start = since if since is not None else end - span
    if start >= end:
        raise DataError(
            f"monitor: the window is empty: start {start.isoformat()} is not before "
            f"end {end.isoformat()}",
            hint="--since must be in the past (or before --until)",
        )
    return start, end
