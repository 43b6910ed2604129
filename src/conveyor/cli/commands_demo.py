"""``conveyor demo``: the closed loop on the bundled churn example, narrated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli._console import console


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def demo_cmd(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Scratch directory (new or empty; default: a temporary one)."),
    ] = None,
) -> None:
    """Train, serve, drift, alert, retrain, canary and promote: the whole life of a model."""
    import tempfile

    from conveyor.demo import run_demo

    out = console()
    workdir = directory or Path(tempfile.mkdtemp(prefix="conveyor-demo-")) / "churn"
    result = run_demo(workdir, say=out.print)
    out.print()
    out.print(f"Done in {result.seconds:.0f}s. Where to look:")
    out.print(f"  project         {result.root}")
    for name, path in result.reports.items():
        if path:
            out.print(f"  {name:<15} {path}")
    out.print(f"  decisions       conveyor -C {result.root} history churn")
    out.print(f"  dashboard       conveyor -C {result.root} ui")
