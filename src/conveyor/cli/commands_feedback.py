"""``conveyor feedback import``: ground truth for logged predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli._console import console, open_project, print_json

feedback_app = typer.Typer(
    help="Ground truth (feedback) for logged predictions.", no_args_is_help=True
)
_CONFIG = typer.Option("--config", "-c", help="conveyor.yaml or project directory.")


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")


@feedback_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON-lines file of labels.")],
    id_column: Annotated[
        str, typer.Option("--id-column", help="Column holding the prediction id.")
    ] = "prediction_id",
    actual_column: Annotated[
        str, typer.Option("--actual-column", help="Column holding the true label or value.")
    ] = "actual",
    config: Annotated[str | None, _CONFIG] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import ground truth; ids the prediction log does not know are reported, not stored."""
    from conveyor.stores._log_location import LogLocation
    from conveyor.stores.feedback import import_feedback
    from conveyor.stores.prediction_log import PredictionLog

    with open_project(config) as project:
        log_root = project.prediction_log_root()
        log = PredictionLog(log_root) if LogLocation.of(log_root).exists() else None
        try:
            result = import_feedback(
                project.metadata, log, path, id_column=id_column, actual_column=actual_column
            )
        finally:
            if log is not None:
                log.close()
    if result.unknown:
        shown = ", ".join(result.unknown_ids)
        more = " …" if result.unknown > len(result.unknown_ids) else ""
        console(stderr=True).print(
            f"warning: {result.unknown} rows name prediction ids the log does not know "
            f"(not stored): {shown}{more}"
        )
    if json_out:
        print_json(result)
        return
    con = console()
    con.print(
        f"{result.rows} rows: {result.imported} imported, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.unknown} unknown"
    )
    if log is None:
        con.print(f"no prediction log at {log_root}: prediction ids were not checked")
