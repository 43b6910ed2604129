"""``conveyor db current | upgrade``: see and apply metadata store migrations on purpose."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli._console import console, open_project, print_json

db_app = typer.Typer(
    help="The metadata store's schema: where it is, and upgrading it explicitly.",
    no_args_is_help=True,
)
_URL = typer.Option(
    "--url", help="Metadata store URL (default: the project's stores.metadata / CONVEYOR_DB_URL)."
)
_JSON = typer.Option("--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def _store_url(url: str | None) -> str:
    # Only the config is read: opening the store would migrate it on the spot.
    return url or open_project(None).metadata_url


def _as_dict(state) -> dict:
    return {
        "url": state.url,
        "current": list(state.current),
        "head": list(state.head),
        "pending": list(state.pending),
        "unknown": list(state.unknown),
        "exists": state.exists,
    }


@db_app.command("current")
def current_cmd(
    url: Annotated[str | None, _URL] = None,
    json_out: Annotated[bool, _JSON] = False,
) -> None:
    """Print the store's schema revision, the head and what an upgrade would apply."""
    from conveyor.stores.upgrade import schema_state

    state = schema_state(_store_url(url))
    if json_out:
        print_json(_as_dict(state))
        return
    console().print(state.describe(), markup=False)


@db_app.command("upgrade")
def upgrade_cmd(
    url: Annotated[str | None, _URL] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the migrations that would run.")
    ] = False,
    json_out: Annotated[bool, _JSON] = False,
) -> None:
    """Apply pending migrations to the metadata store and print the from/to revisions."""
    from conveyor.stores.upgrade import upgrade_store

    before, after = upgrade_store(_store_url(url), dry_run=dry_run)
    start = ", ".join(before.current) or "(empty)"
    end = ", ".join(before.head)
    if json_out:
        print_json(
            {
                "dry_run": dry_run,
                "from": list(before.current),
                "to": list(after.current if not dry_run else before.head),
                "applied": [] if dry_run else list(before.pending),
                "pending": list(before.pending) if dry_run else list(after.pending),
                "url": before.url,
            }
        )
        return
    out = console()
    if not before.pending:
        out.print(f"metadata store {before.url}: already at {start}; nothing to do", markup=False)
    elif dry_run:
        out.print(
            f"metadata store {before.url}: would upgrade from {start} to {end} "
            f"({len(before.pending)} migrations: {', '.join(before.pending)})",
            markup=False,
        )
    else:
        out.print(
            f"metadata store {before.url}: upgraded from {start} to {', '.join(after.current)} "
            f"(applied {', '.join(before.pending)})",
            markup=False,
        )
