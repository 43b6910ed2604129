"""``conveyor check``, ``conveyor agent`` and ``conveyor history``.

Exit codes of ``conveyor check``: 0 no trigger fired; 3 at least one fired;
2 a config or usage error (e.g. a trigger that does not parse); 1 a failure.
``conveyor agent --once`` exits 1 when its tick failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from conveyor.cli._console import console, fmt_time, open_project, print_json

if TYPE_CHECKING:
    from conveyor.automate import DecisionRecord, TickReport, TriggerResult

EXIT_FIRED = 3
_CONFIG = typer.Option("--config", "-c", help="conveyor.yaml or project directory.")
_OVERRIDE = typer.Option("--override", "-o", help="Override a config value (repeatable).")
_STYLES = {
    "fired": "bold red",
    "cooldown": "yellow",
    "quiet": "green",
    "not_enough_data": "dim",
    "not_due": "dim",
}
_LABELS = {"not_enough_data": "not enough data", "not_due": "not due"}


def register(app: typer.Typer) -> None:
    app.command("check")(check_cmd)
    app.command("agent")(agent_cmd)
    app.command("history")(history_cmd)


def _result_dict(result: TriggerResult) -> dict[str, Any]:
    out = result.evidence()
    out["next_due"] = result.next_due.isoformat() if result.next_due else None
    return out


def check_cmd(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Record nothing and send no alert.")
    ] = False,
    config: Annotated[str | None, _CONFIG] = None,
    override: Annotated[list[str] | None, _OVERRIDE] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Evaluate every trigger once; exit 3 when any fired (for cron and CI).

    No retrain or rollback is taken (that is the agent's job); fired triggers
    are recorded, so their cooldown starts, and 'alert' triggers send their
    alert. A condition over a metric without data is 'not enough data', not fired.
    """
    with open_project(config, override) as project:
        report = project.check_triggers(record=not dry_run)
    if json_out:
        print_json(
            {
                "at": report.at.isoformat(),
                "fired": [r.trigger for r in report.fired],
                "results": [_result_dict(r) for r in report.results],
                "alerts": [a.status for a in report.alerts],
                "recorded": report.recorded,
            }
        )
    else:
        _print_check(report.results, dry_run=dry_run)
    if report.fired:
        # SystemExit: main() runs Typer with standalone_mode=False (typer.Exit would be lost).
        raise SystemExit(EXIT_FIRED)


def _print_check(results: list[TriggerResult], *, dry_run: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    con = console()
    if not results:
        con.print("no triggers configured (add a 'triggers:' section to conveyor.yaml)")
        return
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("trigger", "action", "status", "detail"):
        table.add_column(column, overflow="fold")
    for r in results:
        status = Text(_LABELS.get(r.status, r.status), style=_STYLES.get(r.status, ""))
        table.add_row(r.trigger, r.action, status, r.reason)
    con.print(table)
    fired = [r.trigger for r in results if r.fired]
    summary = f"{len(fired)} of {len(results)} trigger(s) fired" + (
        f": {', '.join(fired)}" if fired else ""
    )
    con.print(summary + (" (dry run: nothing recorded)" if dry_run else ""))


def agent_cmd(
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
    max_ticks: Annotated[
        int | None, typer.Option("--max-ticks", min=1, help="Stop after this many ticks.")
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Time between ticks (overrides agent.interval)."),
    ] = None,
    config: Annotated[str | None, _CONFIG] = None,
    override: Annotated[list[str] | None, _OVERRIDE] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per tick.")] = False,
) -> None:
    """Watch the model: evaluate triggers every interval, retrain, canary, promote or roll back.

    SIGTERM or SIGINT stops it after the current step (a second signal
    abandons a retrain in progress); the agent's lock is always released.
    """
    import logging

    overrides = list(override or [])
    if interval is not None:
        overrides.append(f"agent.interval={interval}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with open_project(config, overrides) as project:
        project.check()
        agent = project.agent()
        if not json_out:
            console().print(
                f"agent {agent.holder}: watching {agent.model} every "
                f"{project.config.agent.interval}, {len(agent.triggers)} trigger(s)"
            )
        summary = agent.run(
            max_ticks=1 if once else max_ticks,
            on_tick=_print_tick_json if json_out else _print_tick,
        )
    if not json_out:
        console().print(f"agent stopped ({summary.stopped_by}) after {summary.ticks} tick(s)")
    if once and summary.last is not None and summary.last.error:
        raise SystemExit(1)


def _tick_dict(report: TickReport) -> dict[str, Any]:
    return {
        "at": report.at.isoformat(),
        "fired": [r.trigger for r in report.fired],
        "results": {r.trigger: r.status for r in report.results},
        "decisions": [
            {"action": d.action, "from": d.from_version, "to": d.to_version, "reason": d.reason}
            for d in report.decisions
        ],
        "alerts": [a.status for a in report.alerts],
        "notes": report.notes,
        "error": report.error,
    }


def _print_tick_json(report: TickReport) -> None:
    import json

    print(json.dumps(_tick_dict(report), default=str), flush=True)


def _print_tick(report: TickReport) -> None:
    from rich.text import Text

    con = console()
    counts: dict[str, int] = {}
    for r in report.results:
        counts[_LABELS.get(r.status, r.status)] = counts.get(_LABELS.get(r.status, r.status), 0) + 1
    seen = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no triggers"
    fired = [r.trigger for r in report.fired]
    head = f"{fmt_time(report.at)}  {seen}" + (f" ({', '.join(fired)})" if fired else "")
    con.print(Text(head))
    for d in report.decisions:
        con.print(Text(f"  {d.action} {_versions(d)}: {d.reason}", style="bold"))
    for note in report.notes:
        con.print(Text(f"  {note}", style="dim"))
    if report.error:
        con.print(Text(f"  error: {report.error}", style="red"))


def _versions(d: DecisionRecord) -> str:
    left = f"v{d.from_version}" if d.from_version is not None else "-"
    right = f"v{d.to_version}" if d.to_version is not None else "-"
    return f"{left} -> {right}"


def history_cmd(
    model: Annotated[
        str | None, typer.Argument(help="Model name (default: the config's model).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the newest N decisions.")
    ] = None,
    brief: Annotated[bool, typer.Option("--brief", help="Leave the evidence out.")] = False,
    config: Annotated[str | None, _CONFIG] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every decision of the agent about a model, oldest first, with its evidence."""
    from rich.text import Text

    with open_project(config) as project:
        name = model or project.config.model_name
        decisions = project.history(name, limit=limit)
    if json_out:
        print_json([_decision_dict(d) for d in decisions])
        return
    con = console()
    if not decisions:
        con.print(f"no decisions recorded for {name!r} yet (the agent records them)")
        return
    for d in decisions:
        con.print(
            Text.assemble(
                (f"{fmt_time(d.created_at)}  ", ""),
                (f"{d.action:<14}", "bold"),
                f" {_versions(d):<12}  ",
                (d.actor, "dim"),
            )
        )
        con.print(Text(f"  {d.reason}"))
        if not brief:
            for key, value in _flatten(d.evidence):
                con.print(Text(f"    {key}: {value}", style="dim"))


def _decision_dict(d: DecisionRecord) -> dict[str, Any]:
    return {
        "id": d.id,
        "model": d.model,
        "action": d.action,
        "from_version": d.from_version,
        "to_version": d.to_version,
        "reason": d.reason,
        "created_at": d.created_at.isoformat(),
        "actor": d.actor,
        "evidence": d.evidence,
    }


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Dotted key -> text; a mapping of plain values (metrics) stays on one line."""
    plain = isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values())
    if plain and value and prefix:
        return [(prefix, ", ".join(f"{k} {_text(v)}" for k, v in value.items()))]
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = []
        for index, item in enumerate(value):
            out.extend(_flatten(item, f"{prefix}[{index}]"))
        return out
    return [(prefix, _text(value))]


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "null" if value is None else str(value)
