"""``conveyor``: the command line.

Every command is a thin wrapper: parse options, call the Python API, print.
Errors print one headline (and a hint) and exit 2 for user errors, 1 for
failures; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from conveyor.cli._console import _state

app = typer.Typer(
    name="conveyor",
    help="Conveyor: one config from raw data to a monitored model in production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    project: Annotated[
        str, typer.Option("--project", "-C", help="Project directory (or its conveyor.yaml).")
    ] = ".",
) -> None:
    _state["debug"] = debug
    _state["project"] = project


def _register() -> None:
    import importlib

    from conveyor.cli import (
        commands_config,
        commands_data,
        commands_models,
        commands_run,
        commands_runs,
    )

    for module in (commands_run, commands_runs, commands_data, commands_config, commands_models):
        module.register(app)
    # Command groups that ship in their own modules; each defines register(app).
    for name in (
        "commands_serve",
        "commands_score",
        "commands_feedback",
        "commands_build",
        "commands_stream",
        "commands_monitor",
        "commands_drift",
        "commands_automate",
        "commands_ui",
        "commands_db",
        "commands_demo",
    ):
        try:
            module = importlib.import_module(f"conveyor.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"conveyor.cli.{name}":
                raise
            continue
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``conveyor`` console script."""
    from conveyor.errors import ConveyorError

    try:
        code = app(args=argv, standalone_mode=False)
    except ConveyorError as exc:
        _print_error(exc.message, exc.hint, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:
        usage, abort = _click_exceptions()
        if isinstance(exc, usage):
            exc.show()  # type: ignore[attr-defined]
            return 2
        if isinstance(exc, abort):
            sys.stderr.write("aborted\n")
            return 1
        _print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "re-run with --debug for the traceback",
            exc,
        )
        return 1
    # Without standalone mode, `raise typer.Exit(n)` comes back as the return value.
    return code if isinstance(code, int) else 0


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(usage errors, aborts) of click and of Typer's own copy of click (Typer >= 0.29)."""
    import click

    usage: list[type] = [click.exceptions.ClickException]
    abort: list[type] = [click.exceptions.Abort]
    try:
        from typer._click.exceptions import ClickException
    except ImportError:
        pass
    else:
        usage.append(ClickException)
    try:
        from typer.exceptions import Abort
    except ImportError:
        pass
    else:
        abort.append(Abort)
    return tuple(usage), tuple(abort)


def entrypoint() -> None:
    """The console script: run :func:`main`, then leave without interpreter teardown.

    After a pipeline run the interpreter holds scikit-learn, LightGBM, Polars,
    Optuna and Plotly; tearing those modules down costs ~0.7 s on this class of
    machine, for nothing: every file Conveyor writes is fsynced and closed, and
    every database transaction committed, before ``main`` returns.
    """
    import os

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _print_error(message: str, hint: str | None, exc: BaseException) -> None:
    from conveyor.cli._console import console

    err = console(stderr=True)
    if _state.get("debug"):
        import traceback

        traceback.print_exception(exc)
    lines = message.splitlines() or [""]
    from rich.text import Text

    err.print(Text.assemble(("error: ", "bold red"), lines[0]))
    for line in lines[1:]:
        err.print(Text(line))
    if hint:
        err.print(Text(f"hint: {hint}", style="dim"))
    run_id = getattr(exc, "run_id", None)
    if run_id:
        err.print(
            Text(f"run {run_id} recorded as failed: conveyor runs show {run_id}", style="dim")
        )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
