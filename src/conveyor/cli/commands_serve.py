"""``conveyor serve``: the HTTP prediction service (uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, open_project


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)


def serve_cmd(
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Model reference, e.g. churn@champion (default: serve.model)."
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: serve.host).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: serve.port).")] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Worker processes (default: serve.workers)."),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow a non-loopback address without API keys."),
    ] = False,
    project_dir: Annotated[
        str | None,
        typer.Option("--project", "-C", help="Project directory (or its conveyor.yaml)."),
    ] = None,
) -> None:
    """Serve the model over HTTP: /v1/predict, /v1/feedback, /v1/models, /health, /ready, /metrics."""
    import os

    import uvicorn

    from conveyor.serve.app import (
        ADDRESS_ENV,
        PROJECT_ENV,
        SERVE_MODEL_ENV,
        create_app,
        default_model_ref,
    )
    from conveyor.serve.auth import KeyRing, check_bind

    project = open_project(project_dir)
    cfg = project.config.serve
    updates = {
        key: value
        for key, value in {"model": model, "host": host, "port": port, "workers": workers}.items()
        if value is not None
    }
    cfg = cfg.model_copy(update=updates)
    ref = cfg.model or default_model_ref(project)
    from conveyor.serve.fallback import FallbackPolicy

    # Everything that can be wrong with the setup fails here, once, before any worker binds.
    keys = KeyRing.from_env(os.environ)
    check_bind(cfg.host, keys.enabled, insecure)
    FallbackPolicy(cfg.fallback)
    version = project.registry.resolve(ref)  # NotFound (with what exists) before binding
    loops = _fast_options()
    console(stderr=True).print(
        f"serving {version.model_name} v{version.version} ({ref}) on http://{cfg.host}:{cfg.port}"
        + ("" if keys.enabled else "  [dim](no API keys: open)[/dim]")
    )
    common = {
        "host": cfg.host,
        "port": cfg.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        **loops,
    }
    os.environ[ADDRESS_ENV] = f"http://{cfg.host}:{cfg.port}"
    if cfg.workers == 1:
        uvicorn.run(create_app(project, serve_config=cfg), **common)
        return
    # Worker processes import the app themselves: hand them the project and model by env.
    os.environ[PROJECT_ENV] = str(project.loaded.path or project.root)
    os.environ[SERVE_MODEL_ENV] = ref
    project.close()
    uvicorn.run("conveyor.serve.app:app_from_env", factory=True, workers=cfg.workers, **common)


def _fast_options() -> dict[str, str]:
    """uvloop and httptools when installed (uvicorn falls back to asyncio and h11 otherwise)."""
    import importlib.util

    options: dict[str, str] = {}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "httptools"
    return options
