"""``conveyor score``: streaming, resumable batch scoring of a file, SQL table or Parquet parts."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, fmt_duration, open_project

_CONFIG = typer.Option("--config", "-c", help="conveyor.yaml or project directory.")


def register(app: typer.Typer) -> None:
    app.command("score")(score_cmd)


def score_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="churn@champion, churn:3 or churn.")],
    input_spec: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help=".csv, .parquet, .jsonl, sql://<url>?table=NAME (or ?query=…), or a directory "
            "or glob of Parquet parts (scored on the project's executor).",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help=".csv, .parquet, sql://<url>?table=NAME, or a directory of parts.",
        ),
    ],
    rejects: Annotated[
        str | None,
        typer.Option(
            "--rejects",
            help="Where invalid rows go (default <output>.rejects.<ext>; SQL: <table>_rejects).",
        ),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per chunk.")
    ] = 100_000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Chunks scored at once.")] = 2,
    no_resume: Annotated[
        bool, typer.Option("--no-resume", help="Start over even if an earlier run stopped midway.")
    ] = False,
    config: Annotated[str | None, _CONFIG] = None,
) -> None:
    """Score a large file or SQL table in chunks; invalid rows go to a rejects output."""
    from contextlib import nullcontext

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from conveyor.pipeline.executors import open_executor
    from conveyor.serve._batch_dask import is_partitioned
    from conveyor.serve.batch import score_file

    con = console(stderr=True)
    parts = is_partitioned(input_spec)
    with (
        open_project(config) as project,
        open_executor(project.config.executor) if parts else nullcontext() as executor,
    ):
        version = project.registry.resolve(model)
        with Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=con,
            transient=True,
        ) as progress:
            task = progress.add_task("score", total=None, rate="-")

            def on_progress(done: int, total: int | None) -> None:
                elapsed = progress.tasks[task].elapsed or 0.0
                rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "-"
                progress.update(task, completed=done, total=total, rate=rate)

            result = score_file(
                version,
                project.artifacts,
                input=input_spec,
                output=output,
                chunk_rows=chunk_rows,
                workers=workers,
                rejects=rejects,
                resume=not no_resume,
                on_progress=on_progress,
                client=executor.client if executor is not None else None,
            )
    for note in result.notes:
        con.print(f"note: {note}", style="yellow")
    rate = result.rows_in / result.seconds if result.seconds > 0 else 0.0
    resumed = f", {result.resumed_chunks} chunk(s) resumed" if result.resumed_chunks else ""
    console().print(
        f"scored {result.rows_scored:,} of {result.rows_in:,} rows with {version.ref} "
        f"in {fmt_duration(result.seconds)} ({rate:,.0f} rows/s{resumed}) -> {result.output}"
    )
    if result.rows_rejected:
        console().print(
            f"rejected {result.rows_rejected:,} invalid row(s) -> {result.rejects}", style="yellow"
        )
