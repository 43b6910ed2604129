"""``conveyor runs list | show | diff``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from conveyor.cli._console import (
    console,
    fmt_duration,
    fmt_rows,
    fmt_time,
    open_project,
    print_json,
    styled_status,
)

runs_app = typer.Typer(help="Inspect recorded runs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def list_cmd(
    config: Annotated[
        str | None, typer.Argument(help="conveyor.yaml or project directory.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    offset: Annotated[int, typer.Option(help="Skip this many newest runs.")] = 0,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List runs, newest first."""
    from rich.table import Table

    project = open_project(config)
    with project:
        runs = project.metadata.list_runs(
            project=project.config.project, status=status, limit=limit, offset=offset
        )
    if json_out:
        print_json([_run_dict(r) for r in runs])
        return
    table = Table(title=f"runs of {project.config.project}", title_justify="left")
    for col in ("run", "status", "started", "duration", "kind", "error"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            r.id,
            styled_status(r.status),
            fmt_time(r.started_at),
            fmt_duration(r.duration_s),
            r.kind,
            (r.error or "")[:60],
        )
    console().print(table)


@runs_app.command("show")
def show_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="conveyor.yaml or project dir.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one run: status, steps, outputs, lineage."""
    from rich.table import Table
    from rich.text import Text

    project = open_project(config)
    with project:
        run = project.metadata.get_run(run_id)
        steps = project.metadata.list_steps(run.id)
    if json_out:
        print_json(
            {**_run_dict(run), "config": run.config, "steps": [_step_dict(s) for s in steps]}
        )
        return
    con = console()
    con.print(
        Text.assemble(
            ("run ", "bold"),
            (run.id, "bold"),
            f"  {run.status}  started {fmt_time(run.started_at)}"
            f"  duration {fmt_duration(run.duration_s)}",
        )
    )
    if run.error:
        con.print(Text(f"error: {run.error}", style="red"))
    if run.command:
        con.print(Text(f"command: {run.command}", style="dim"))
    if run.code_version:
        con.print(Text(f"code: {run.code_version}", style="dim"))
    table = Table()
    for col in ("step", "status", "cached", "duration", "rows in", "rows out", "outputs"):
        table.add_column(col)
    for s in steps:
        outs = ", ".join(f"{k}={v[:10]}" for k, v in (s.outputs or {}).items())
        table.add_row(
            s.name,
            styled_status(s.status),
            "yes" if s.cached else "",
            fmt_duration(s.duration_s),
            fmt_rows(s.rows_in),
            fmt_rows(s.rows_out),
            Text(outs),
        )
    con.print(table)
    for s in steps:
        if s.error:
            con.print(Text(f"{s.name}: {s.error}", style="red"))
        for w in (s.warnings or [])[:5]:
            con.print(Text(f"{s.name}: ! {w}", style="yellow"))


@runs_app.command("diff")
def diff_cmd(
    run_a: Annotated[str, typer.Argument(help="First run id.")],
    run_b: Annotated[str, typer.Argument(help="Second run id.")],
    config: Annotated[str | None, typer.Option("--config", "-c")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show what differs between two runs: config values, step outputs, metrics."""
    from rich.table import Table
    from rich.text import Text

    project = open_project(config)
    with project:
        a, b = project.metadata.get_run(run_a), project.metadata.get_run(run_b)
        steps_a = {s.name: s for s in project.metadata.list_steps(a.id)}
        steps_b = {s.name: s for s in project.metadata.list_steps(b.id)}
    config_diff = [
        {"key": k, "a": va, "b": vb}
        for k, va, vb in _diff_flat(_flatten(a.config), _flatten(b.config))
    ]
    step_diff = []
    for name in list(dict.fromkeys([*steps_a, *steps_b])):
        sa, sb = steps_a.get(name), steps_b.get(name)
        same = sa is not None and sb is not None and sa.outputs == sb.outputs
        step_diff.append(
            {
                "step": name,
                "same_outputs": same,
                "a": sa.status if sa else None,
                "b": sb.status if sb else None,
                "rows_out_a": sa.rows_out if sa else None,
                "rows_out_b": sb.rows_out if sb else None,
            }
        )
    metric_diff = [
        {"key": k, "a": va, "b": vb}
        for k, va, vb in _diff_flat(_flatten(a.summary or {}), _flatten(b.summary or {}))
    ]
    if json_out:
        print_json(
            {
                "a": a.id,
                "b": b.id,
                "config": config_diff,
                "steps": step_diff,
                "summary": metric_diff,
            }
        )
        return
    con = console()
    con.print(Text(f"diff {a.id} -> {b.id}", style="bold"))
    table = Table(title="config", title_justify="left")
    for col in ("key", a.id, b.id):
        table.add_column(col)
    for d in config_diff:
        table.add_row(d["key"], Text(repr(d["a"])), Text(repr(d["b"])))
    if not config_diff:
        con.print("config: identical")
    else:
        con.print(table)
    table = Table(title="steps", title_justify="left")
    for col in ("step", "outputs", f"rows {a.id}", f"rows {b.id}"):
        table.add_column(col)
    for d in step_diff:
        table.add_row(
            d["step"],
            "same" if d["same_outputs"] else "[yellow]different[/yellow]",
            fmt_rows(d["rows_out_a"]),
            fmt_rows(d["rows_out_b"]),
        )
    con.print(table)
    if metric_diff:
        table = Table(title="summary", title_justify="left")
        for col in ("key", a.id, b.id):
            table.add_column(col)
        for d in metric_diff:
            table.add_row(d["key"], Text(repr(d["a"])), Text(repr(d["b"])))
        con.print(table)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            out.update(_flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = data
    return out


def _diff_flat(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _run_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "project": r.project,
        "kind": r.kind,
        "status": r.status,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "duration_s": r.duration_s,
        "error": r.error,
        "config_fingerprint": r.config_fingerprint,
        "code_version": r.code_version,
        "summary": r.summary,
    }


def _step_dict(s: Any) -> dict[str, Any]:
    return {
        "name": s.name,
        "status": s.status,
        "cached": s.cached,
        "duration_s": s.duration_s,
        "rows_in": s.rows_in,
        "rows_out": s.rows_out,
        "inputs": s.inputs,
        "outputs": s.outputs,
        "metrics": s.metrics,
        "notes": s.notes,
        "warnings": s.warnings,
        "error": s.error,
        "fingerprint": s.fingerprint,
    }
