"""``conveyor data list | show``."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, fmt_time, open_project, print_json

data_app = typer.Typer(help="Inspect dataset versions.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("list")
def list_cmd(
    config: Annotated[
        str | None, typer.Argument(help="conveyor.yaml or project directory.")
    ] = None,
    limit: Annotated[int, typer.Option()] = 20,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List dataset versions, newest first."""
    from rich.table import Table

    project = open_project(config)
    with project:
        versions = project.metadata.list_dataset_versions(project.config.project, limit=limit)
    if json_out:
        print_json([_dv(v) for v in versions])
        return
    table = Table(title=f"dataset versions of {project.config.project}", title_justify="left")
    for col in ("version", "rows", "columns", "digest", "created", "run"):
        table.add_column(col)
    for v in versions:
        table.add_row(
            f"v{v.version}",
            f"{v.rows:,}",
            str(v.columns),
            v.digest[:12],
            fmt_time(v.created_at),
            v.run_id or "",
        )
    console().print(table)


@data_app.command("show")
def show_cmd(
    version: Annotated[str, typer.Argument(help="Version number (3 or v3) or digest prefix.")],
    config: Annotated[str | None, typer.Option("--config", "-c")] = None,
    head: Annotated[int, typer.Option(help="Show this many rows.")] = 5,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a dataset version: schema, row count, source, first rows."""
    from rich.table import Table
    from rich.text import Text

    project = open_project(config)
    with project:
        v = project.metadata.get_dataset_version(version, project=project.config.project)
        frame = None
        if head > 0:
            import io

            import polars as pl

            frame = pl.read_parquet(io.BytesIO(project.artifacts.get_bytes(v.digest)), n_rows=head)
    if json_out:
        print_json({**_dv(v), "head": frame.to_dicts() if frame is not None else []})
        return
    con = console()
    con.print(
        Text(
            f"dataset v{v.version}  {v.rows:,} rows x {v.columns} columns  digest {v.digest}",
            style="bold",
        )
    )
    con.print(Text(f"created {fmt_time(v.created_at)} by run {v.run_id}", style="dim"))
    table = Table(title="schema", title_justify="left")
    table.add_column("column")
    table.add_column("type")
    for name, dtype in (v.schema or {}).items():
        table.add_row(name, str(dtype))
    con.print(table)
    if frame is not None:
        con.print(Text(str(frame)))


def _dv(v) -> dict:
    return {
        "version": v.version,
        "digest": v.digest,
        "rows": v.rows,
        "columns": v.columns,
        "schema": v.schema,
        "source": v.source,
        "run_id": v.run_id,
        "created_at": v.created_at,
    }
