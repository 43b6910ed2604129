"""Shared console helpers for the CLI (Rich is imported only when output is drawn)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

_state: dict[str, Any] = {"debug": False, "project": "."}


def console(*, stderr: bool = False):
    from rich.console import Console

    key = "err_console" if stderr else "console"
    if key not in _state:
        _state[key] = Console(
            stderr=stderr, highlight=False, soft_wrap=True
        )  # never break a message mid-line
    return _state[key]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_default, sort_keys=False) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def fmt_rows(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def fmt_time(ts: datetime | None) -> str:
    if ts is None:
        return "-"
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


STATUS_STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "running": "yellow",
    "failed": "red",
    "interrupted": "magenta",
    "skipped": "dim",
}


def styled_status(status: str) -> str:
    style = STATUS_STYLE.get(status, "white")
    return f"[{style}]{status}[/{style}]"


def open_project(config: str | None, overrides: list[str] | None = None):
    from conveyor.project import Project

    return Project(config or _state["project"], overrides=overrides or [])
