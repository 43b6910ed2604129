"""``conveyor run``, ``conveyor init`` and ``conveyor gc``."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, fmt_duration, open_project, print_json

_OVERRIDE = typer.Option(
    "--override", "-o", help="Override a config value: -o split.test=0.2 (repeatable)."
)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("init")(init_cmd)
    app.command("gc")(gc_cmd)


def run_cmd(
    config: Annotated[
        str | None, typer.Argument(help="conveyor.yaml or project directory.")
    ] = None,
    override: Annotated[list[str] | None, _OVERRIDE] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, reuse nothing.")
    ] = False,
    from_step: Annotated[
        str | None, typer.Option("--from", help="Re-run from this step on.")
    ] = None,
    only: Annotated[str | None, typer.Option("--only", help="Run only this step.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the run as JSON on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
) -> None:
    """Run the pipeline described by conveyor.yaml."""
    from conveyor.cli._reporter import RichReporter

    project = open_project(config, override)
    with project:
        reporter = RichReporter(quiet=quiet or json_out)
        result = project.run(
            no_cache=no_cache,
            from_step=from_step,
            only=only,
            reporter=reporter,
            raise_on_failure=False,
        )
        if json_out:
            print_json(_run_json(result))
        else:
            _print_summary(project, result, quiet=quiet)
        if result.exception is not None:
            exc = result.exception
            exc.run_id = result.id  # type: ignore[attr-defined]
            raise exc


def _run_json(result) -> dict:
    return {
        "run_id": result.id,
        "status": result.status,
        "error": result.error,
        "duration_s": round(result.duration_s, 3),
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "duration_s": round(s.duration_s, 3),
                "rows_in": s.rows_in,
                "rows_out": s.rows_out,
                "outputs": s.outputs,
                "warnings": s.warnings,
                "notes": s.notes,
                "error": s.error,
            }
            for s in result.steps
        ],
        "dataset_versions": [
            {"version": d.version, "digest": d.digest, "rows": d.rows, "columns": d.columns}
            for d in result.dataset_versions
        ],
        "summary": result.summary,
    }


def _print_summary(project, result, *, quiet: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    con = console()
    if result.status != "succeeded":
        return
    cached = sum(1 for s in result.steps if s.status == "cached")
    ran = sum(1 for s in result.steps if s.status == "succeeded")
    summary = result.summary
    if summary.get("leaderboard"):
        con.print(_leaderboard_table(summary["leaderboard"], summary.get("primary_metric", "")))
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # paths are shown whole, never cut with an ellipsis
    table.add_row("run", result.id)
    table.add_row("status", Text(result.status, style="green"))
    table.add_row("steps", f"{ran} ran, {cached} reused from cache")
    table.add_row("duration", fmt_duration(result.duration_s))
    for d in result.dataset_versions[:1]:
        table.add_row(
            "dataset", f"v{d.version} ({d.rows:,} rows x {d.columns} columns, {d.digest[:12]})"
        )
    for key, label in (
        ("model", "model"),
        ("model_version", "model version"),
        ("decision", "decision"),
        ("primary_metric", "metric"),
    ):
        if summary.get(key) is not None:
            table.add_row(label, Text(str(summary[key])))
    con.print(table)
    # Paths on lines of their own, never wrapped or cut, so they can be copied or clicked.
    for key, label in (("report_html", "report"), ("report_json", "report (json)")):
        if summary.get(key) is not None:
            con.print(Text.assemble((f"{label:<15}", "bold"), str(summary[key])))


_SHOWN_METRICS = (
    "roc_auc",
    "pr_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "f1_macro",
    "log_loss",
    "rmse",
    "mae",
    "r2",
    "mape",
)


def _leaderboard_table(rows: list[dict], primary: str):
    """Model, the primary metric first, then the few metrics people compare (test split)."""
    from rich.table import Table

    primary_name = primary.split()[0] if primary else ""
    metrics = [primary_name] if primary_name else []
    metrics += [m for m in _SHOWN_METRICS if m != primary_name and any(m in r for r in rows)][:5]
    table = Table(title="Leaderboard (test split)", title_justify="left")
    table.add_column("model")
    for m in metrics:
        table.add_column(m, justify="right")
    for row in rows:
        name = row.get("model", "?") + (" *" if row.get("winner") else "")
        values = [row.get(m) for m in metrics]
        table.add_row(name, *["-" if v is None else f"{v:.4f}" for v in values])
    return table


def init_cmd(
    name: Annotated[str, typer.Argument(help="Project name (also the directory created).")],
    directory: Annotated[
        str | None, typer.Option("--dir", help="Where to create it (default: ./NAME).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into an existing, non-empty directory.")
    ] = False,
) -> None:
    """Create a runnable project: conveyor.yaml, sample data and a README."""
    from pathlib import Path

    from conveyor.scaffold import create_project

    target = create_project(name, Path(directory or name), force=force)
    con = console()
    con.print(f"created project '{name}' in {target}")
    con.print(f"next: cd {target} && conveyor run")


def gc_cmd(
    config: Annotated[
        str | None, typer.Argument(help="conveyor.yaml or project directory.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed.")] = False,
    min_age: Annotated[
        float,
        typer.Option(
            "--min-age",
            help="Keep blobs younger than this many seconds "
            "(a running pipeline has not recorded them yet).",
        ),
    ] = 600.0,
) -> None:
    """Remove artifacts that no run, dataset version or model version references."""
    project = open_project(config)
    with project:
        result = project.gc(dry_run=dry_run, min_age_s=min_age)
    verb = "would remove" if dry_run else "removed"
    console().print(
        f"{verb} {len(result.removed)} artifact(s), {result.bytes_freed:,} bytes; kept {result.kept}"
    )
