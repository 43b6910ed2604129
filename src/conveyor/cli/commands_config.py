"""``conveyor config schema | show | check``."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, open_project, print_json

config_app = typer.Typer(help="Check, show and describe conveyor.yaml.", no_args_is_help=True)
_OVERRIDE = typer.Option("--override", "-o", help="Override a config value (repeatable).")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("schema")
def schema_cmd(
    output: Annotated[
        str | None, typer.Option("--output", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of conveyor.yaml (for editor completion and validation)."""
    import json
    from pathlib import Path

    from conveyor.config.models import ConveyorConfig

    schema = ConveyorConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "conveyor.yaml"
    text = json.dumps(schema, indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        console(stderr=True).print(f"wrote {output}")
    else:
        print(text)


@config_app.command("show")
def show_cmd(
    config: Annotated[
        str | None, typer.Argument(help="conveyor.yaml or project directory.")
    ] = None,
    override: Annotated[list[str] | None, _OVERRIDE] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the resolved config (defaults filled in, secrets masked)."""
    project = open_project(config, override)
    data = project.loaded.masked()
    if json_out:
        print_json(data)
        return
    import yaml

    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")


@config_app.command("check")
def check_cmd(
    config: Annotated[
        str | None, typer.Argument(help="conveyor.yaml or project directory.")
    ] = None,
    override: Annotated[list[str] | None, _OVERRIDE] = None,
) -> None:
    """Validate conveyor.yaml (and every import path it names) without running anything."""
    project = open_project(config, override)
    project.check()
    cfg = project.config
    console().print(
        f"{project.loaded.path}: ok (project '{cfg.project}', task {cfg.task}, target '{cfg.target}', "
        f"{len(cfg.data.sources)} source(s), {len(cfg.models)} model(s))"
    )
