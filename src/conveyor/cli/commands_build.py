"""``conveyor build``: a deployable directory (Dockerfile, pinned requirements, model)."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, open_project


def register(app: typer.Typer) -> None:
    app.command("build")(build_cmd)


def build_cmd(
    model: Annotated[
        str, typer.Option("--model", help="Model reference, e.g. churn@champion or churn:3.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Directory to write (new or empty).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a previous build in a non-empty directory.")
    ] = False,
    project_dir: Annotated[
        str | None,
        typer.Option("--project", "-C", help="Project directory (or its conveyor.yaml)."),
    ] = None,
) -> None:
    """Write a deployable directory: Dockerfile, requirements.txt, the model and a README."""
    from conveyor.serve.build import build_deployment

    with open_project(project_dir) as project:
        result = build_deployment(project, model, output, force=force)
    out = console()
    out.print(
        f"built {result.model_name} v{result.source_version} into {result.output}"
        f" ({len(result.requirements)} pinned requirements, {result.wheel})"
    )
    if result.missing:
        console(stderr=True).print(
            "warning: not installed here, so not pinned: " + ", ".join(result.missing)
        )
    out.print(f"next: docker build -t {result.model_name}-model {result.output}")
