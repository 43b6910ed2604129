"""``conveyor ui``: the web dashboard (runs, models, deployments, monitoring, data)."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, open_project


def register(app: typer.Typer) -> None:
    app.command("ui")(ui_cmd)


def ui_cmd(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8080,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow a non-loopback address without API keys."),
    ] = False,
    project_dir: Annotated[
        str | None,
        typer.Option("--project", "-C", help="Project directory (or its conveyor.yaml)."),
    ] = None,
) -> None:
    """Serve the dashboard: runs, compare, models, deployments, monitoring, data, and /api/."""
    import os

    import uvicorn

    from conveyor.errors import ConfigError
    from conveyor.serve.auth import API_KEYS_ENV, KeyRing, check_bind

    project = open_project(project_dir)
    # Everything that can be wrong fails here, once, with a headline, before anything binds.
    keys = KeyRing.from_env(os.environ)
    try:
        check_bind(host, keys.enabled, insecure)
    except ConfigError as exc:
        raise ConfigError(
            f"ui: refusing to bind {host!r} without API keys: anyone who can reach it could "
            "read every run and move model aliases",
            hint=f"set {API_KEYS_ENV}='name:key:admin', bind 127.0.0.1, or pass --insecure",
        ) from exc
    project.metadata  # opens (and migrates) the store now  # noqa: B018
    if keys.enabled:
        mode = "API keys on: changes need an admin key"
    elif insecure:
        mode = "no API keys (--insecure): changes only from loopback clients"
    else:
        mode = "no API keys: open on loopback"
    console(stderr=True).print(
        f"dashboard of {project.config.project} on http://{host}:{port}  [dim]({mode})[/dim]"
    )
    # The app is built by its factory inside uvicorn: the CLI never imports the web stack.
    os.environ["CONVEYOR_UI_PROJECT"] = str(project.loaded.path or project.root)
    os.environ["CONVEYOR_UI_HOST"] = host
    os.environ["CONVEYOR_UI_INSECURE"] = "1" if insecure else "0"
    project.close()
    uvicorn.run(
        "conveyor.ui.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )
