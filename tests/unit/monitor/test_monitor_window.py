"""The monitor window: since / window / until, time zones, empty windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import DataError
from conveyor.monitor import resolve_window

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_default_window_ends_now() -> None:
    assert resolve_window(since=None, window_s=None, until=None, now=NOW) == (
        NOW - timedelta(days=7),
        NOW,
    )
    start, _ = resolve_window(since=None, window_s=None, until=None, default_window="1h", now=NOW)
    assert start == NOW - timedelta(hours=1)


def test_since_and_window_fix_both_ends() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    assert resolve_window(since=since, window_s=86400.0, until=None, now=NOW) == (
        since,
        since + timedelta(days=1),
    )
    assert resolve_window(since=since, window_s=None, until=None, now=NOW) == (since, NOW)


def test_other_time_zones_become_utc() -> None:
    since = datetime(2026, 11, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    start, _ = resolve_window(since=since, window_s=None, until=None, now=NOW)
    assert start == datetime(2026, 11, 1, 0, tzinfo=UTC) and start.tzinfo == UTC


def test_naive_times_are_refused_with_a_hint() -> None:
    with pytest.raises(DataError, match="--since 2026-11-01T00:00:00 has no time zone") as info:
        resolve_window(since=datetime(2026, 11, 1), window_s=None, until=None, now=NOW)
    assert "2026-11-28T00:00:00Z" in (info.value.hint or "")


@pytest.mark.parametrize("window", [0.0, -5.0])
def test_non_positive_windows_are_refused(window: float) -> None:
    with pytest.raises(DataError, match="longer than 0 s"):
        resolve_window(since=None, window_s=window, until=None, now=NOW)


def test_a_future_since_is_an_empty_window() -> None:
    with pytest.raises(DataError, match="window is empty"):
        resolve_window(since=NOW + timedelta(days=1), window_s=None, until=None, now=NOW)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1.0, max_value=1e8))
def test_the_window_spans_its_length(seconds: float) -> None:
    start, end = resolve_window(since=None, window_s=seconds, until=NOW, now=NOW)
    assert end == NOW
    assert abs((end - start).total_seconds() - seconds) < 1e-3
