"""Draw run progress: one line per step, a live status line while a step works."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from conveyor.cli._console import console, fmt_duration, fmt_rows, styled_status


class RichReporter:
    """One line per finished step; a spinner with the current activity while it runs."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.con = console(stderr=True)
        self._status: Any = None
        self._started: dict[str, float] = {}
        self._messages: dict[str, list[str]] = {}

    def run_started(self, run_id: str, steps: Sequence[str]) -> None:
        if not self.quiet:
            self.con.print(f"[bold]run {run_id}[/bold]  steps: {' -> '.join(steps)}")

    def step_started(self, name: str) -> None:
        self._started[name] = time.perf_counter()
        self._messages[name] = []
        if not self.quiet and self.con.is_terminal:
            self._status = self.con.status(f"[bold]{name}[/bold] ...", spinner="dots")
            self._status.start()

    def step_progress(self, name: str, label: str, fraction: float | None) -> None:
        if self._status is not None:
            pct = f" {fraction:.0%}" if fraction is not None else ""
            self._status.update(f"[bold]{name}[/bold] {_esc(label)}{pct}")

    def step_message(self, name: str, text: str) -> None:
        self._messages.setdefault(name, []).append(text)
        if self._status is not None:
            self._status.update(f"[bold]{name}[/bold] {_esc(text)}")

    def step_finished(self, step: Any) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self.quiet or step.status == "skipped":
            return
        rows = f"{fmt_rows(step.rows_in)} -> {fmt_rows(step.rows_out)} rows"
        if step.rows_in is None:
            rows = f"{fmt_rows(step.rows_out)} rows" if step.rows_out is not None else ""
        mark = {
            "succeeded": "[green]✔[/green]",
            "cached": "[cyan]↺[/cyan]",
            "failed": "[red]✘[/red]",
        }.get(step.status, " ")
        self.con.print(
            f"{mark} {step.name:<10} {styled_status(step.status):<22} {fmt_duration(step.duration_s):>9}  {rows}"
        )
        if step.status == "cached":
            return
        from rich.text import Text

        for note in [*step.notes, *self._messages.get(step.name, [])][:12]:
            self.con.print(Text(f"    {note}", style="dim"))
        for warning in step.warnings[:10]:
            self.con.print(Text(f"    ! {warning}", style="yellow"))
        if len(step.warnings) > 10:
            self.con.print(f"    [yellow]! … {len(step.warnings) - 10} more warnings[/yellow]")

    def run_finished(self, result: Any) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)
