"""Alias moves on one connection: champion/challenger status sync, history, rollback target."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from conveyor.errors import ModelError
from conveyor.registry._queries import mv, now, set_status_only
from conveyor.registry._refs import CHALLENGER, CHAMPION
from conveyor.registry._tables import model_alias_history, model_aliases

__all__ = ["move_alias", "previous_champion", "remove_alias"]


def _record(
    conn: sa.Connection,
    name: str,
    alias: str,
    *,
    action: str,
    from_version: int | None,
    to_version: int | None,
    reason: str,
    actor: str,
) -> None:
    conn.execute(
        model_alias_history.insert().values(
            model_name=name,
            alias=alias,
            action=action,
            from_version=from_version,
            to_version=to_version,
            reason=reason,
            actor=actor,
            at=now(),
        )
    )


def _alias_target(conn: sa.Connection, name: str, alias: str) -> Any:
    stmt = (
        sa.select(mv)
        .join(model_aliases, mv.c.id == model_aliases.c.model_version_id)
        .where(model_aliases.c.model_name == name, model_aliases.c.alias == alias)
    )
    return conn.execute(stmt).first()


def remove_alias(
    conn: sa.Connection, name: str, alias: str, *, reason: str, actor: str
) -> int | None:
    """Drop ``alias``; returns the version it pointed at (None when it did not exist)."""
    current = _alias_target(conn, name, alias)
    if current is None:
        return None
    conn.execute(
        model_aliases.delete().where(
            model_aliases.c.model_name == name, model_aliases.c.alias == alias
        )
    )
    _record(
        conn,
        name,
        alias,
        action="remove",
        from_version=current.version,
        to_version=None,
        reason=reason,
        actor=actor,
    )
    # Keep status in step with the serving aliases.
    if alias == CHAMPION and current.status == "champion":
        set_status_only(conn, current.id, "archived")
    elif alias == CHALLENGER and current.status == "challenger":
        set_status_only(conn, current.id, "candidate")
    return current.version


def move_alias(
    conn: sa.Connection, name: str, alias: str, target: Any, *, action: str, reason: str, actor: str
) -> bool:
    """Point ``alias`` at ``target`` (a version row) and keep statuses in sync.

    Returns False when the alias already pointed there (nothing recorded).
    """
    current = _alias_target(conn, name, alias)
    if current is not None and current.id == target.id:
        return False
    if alias == CHALLENGER and target.status == "champion":
        raise ModelError(
            f"model {name!r}: v{target.version} is the champion; it cannot be the challenger too"
        )
    if current is None:
        conn.execute(
            model_aliases.insert().values(
                model_name=name, alias=alias, model_version_id=target.id, updated_at=now()
            )
        )
    else:
        conn.execute(
            model_aliases.update()
            .where(model_aliases.c.model_name == name, model_aliases.c.alias == alias)
            .values(model_version_id=target.id, updated_at=now())
        )
    _record(
        conn,
        name,
        alias,
        action=action,
        from_version=current.version if current is not None else None,
        to_version=target.version,
        reason=reason,
        actor=actor,
    )
    if alias == CHAMPION:
        set_status_only(conn, target.id, "champion")
        if current is not None and current.status == "champion":
            set_status_only(conn, current.id, "archived")
        challenger = _alias_target(conn, name, CHALLENGER)
        if challenger is not None and challenger.id == target.id:
            conn.execute(
                model_aliases.delete().where(
                    model_aliases.c.model_name == name, model_aliases.c.alias == CHALLENGER
                )
            )
            _record(
                conn,
                name,
                CHALLENGER,
                action="remove",
                from_version=target.version,
                to_version=None,
                reason=f"v{target.version} became the champion",
                actor=actor,
            )
    elif alias == CHALLENGER:
        set_status_only(conn, target.id, "challenger")
        if current is not None and current.status == "challenger":
            set_status_only(conn, current.id, "candidate")
    return True


def previous_champion(conn: sa.Connection, name: str) -> int | None:
    """The champion before the current one, replaying promotions and rollbacks in order."""
    h = model_alias_history
    rows = conn.execute(
        sa.select(h.c.action, h.c.to_version)
        .where(h.c.model_name == name, h.c.alias == CHAMPION)
        .order_by(h.c.id)
    ).all()
    stack: list[int | None] = []
    for action, to in rows:
        if action == "rollback" and to in stack:
            # A rollback returns to an earlier champion: forget what came after it.
            while stack and stack[-1] != to:
                stack.pop()
        else:
            stack.append(to)
    current = stack[-1] if stack else None
    for earlier in reversed(stack[:-1]):
        if earlier is not None and earlier != current:
            return earlier
    return None
