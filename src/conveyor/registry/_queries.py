"""Registry reads and version/tag writes on one connection (the caller owns the transaction)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from conveyor.errors import ModelError, NotFound
from conveyor.registry._records import AliasMove, ModelSummary, ModelVersion
from conveyor.registry._refs import (
    CHAMPION,
    LATEST,
    did_you_mean,
    parse_version,
    show_versions,
)
from conveyor.registry._tables import (
    model_alias_history,
    model_aliases,
    model_version_tags,
    model_versions,
)

__all__ = [
    "alias_map",
    "history",
    "insert_version",
    "json_safe",
    "list_models",
    "list_versions",
    "lock_model",
    "model_names",
    "mv",
    "now",
    "require_model",
    "resolve",
    "set_status_only",
    "to_version",
    "upsert_tag",
]

mv = model_versions


def now() -> datetime:
    return datetime.now(UTC)


def json_safe(value: Any) -> Any:
    """JSON-storable copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def lock_model(conn: sa.Connection, name: str) -> None:
    """Serialise writers of one model on PostgreSQL (SQLite writers are already serial)."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"conveyor.registry:{name}".encode()).digest()[:8], "big"
        )
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key - (1 << 63))))


# ---------------------------------------------------------------- reads


def _tags_and_aliases(
    conn: sa.Connection, ids: Sequence[int]
) -> tuple[dict[int, dict[str, str]], dict[int, list[str]]]:
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        for row in conn.execute(
            sa.select(model_version_tags).where(model_version_tags.c.model_version_id.in_(chunk))
        ):
            tags[row.model_version_id][row.key] = row.value
        for row in conn.execute(
            sa.select(model_aliases.c.model_version_id, model_aliases.c.alias)
            .where(model_aliases.c.model_version_id.in_(chunk))
            .order_by(model_aliases.c.alias)
        ):
            aliases[row.model_version_id].append(row.alias)
    return tags, aliases


def _records(conn: sa.Connection, rows: Sequence[Any]) -> list[ModelVersion]:
    tags, aliases = _tags_and_aliases(conn, [r.id for r in rows])
    return [
        ModelVersion(
            id=r.id,
            model_name=r.model_name,
            version=r.version,
            status=r.status,
            run_id=r.run_id,
            dataset_version=r.dataset_version,
            config_fingerprint=r.config_fingerprint,
            git_commit=r.git_commit,
            bundle_digest=r.bundle_digest,
            manifest_digest=r.manifest_digest,
            metrics=r.metrics or {},
            gates=r.gates if r.gates is not None else {},
            description=r.description,
            created_at=r.created_at,
            tags=tags[r.id],
            aliases=tuple(aliases[r.id]),
        )
        for r in rows
    ]


def to_version(conn: sa.Connection, row: Any) -> ModelVersion:
    return _records(conn, [row])[0]


def model_names(conn: sa.Connection) -> list[str]:
    return list(
        conn.execute(sa.select(mv.c.model_name).distinct().order_by(mv.c.model_name)).scalars()
    )


def require_model(conn: sa.Connection, name: str) -> None:
    exists = conn.execute(sa.select(mv.c.id).where(mv.c.model_name == name).limit(1)).first()
    if exists is None:
        known = model_names(conn)
        listing = ", ".join(known) if known else "none yet"
        raise NotFound(
            f"model {name!r} is not registered{did_you_mean(name, known)}; known models: {listing}",
            hint="models are registered by `conveyor run`",
        )


def alias_map(conn: sa.Connection, name: str) -> dict[str, int]:
    """alias -> version number for model ``name``."""
    stmt = (
        sa.select(model_aliases.c.alias, mv.c.version)
        .join(mv, mv.c.id == model_aliases.c.model_version_id)
        .where(model_aliases.c.model_name == name)
        .order_by(model_aliases.c.alias)
    )
    return {row.alias: row.version for row in conn.execute(stmt)}


def _version_row(conn: sa.Connection, name: str, version: int) -> Any:
    return conn.execute(
        sa.select(mv).where(mv.c.model_name == name, mv.c.version == version)
    ).first()


def resolve(conn: sa.Connection, name: str, ref: int | str | None) -> Any:
    """The ``model_versions`` row that ``ref`` (number, ``v3``, alias, ``latest``) names."""
    require_model(conn, name)
    ref = CHAMPION if ref is None else ref
    number = parse_version(ref)
    if number is not None:
        row = _version_row(conn, name, number)
        if row is None:
            versions = list(
                conn.execute(sa.select(mv.c.version).where(mv.c.model_name == name)).scalars()
            )
            raise NotFound(
                f"model {name!r} has no version {number} (versions: {show_versions(versions)})"
            )
        return row
    if not isinstance(ref, str):
        raise ModelError(f"model {name!r}: {ref!r} is neither a version number nor an alias")
    row = conn.execute(
        sa.select(mv)
        .join(model_aliases, mv.c.id == model_aliases.c.model_version_id)
        .where(model_aliases.c.model_name == name, model_aliases.c.alias == ref)
    ).first()
    if row is not None:
        return row
    if ref == LATEST:
        return conn.execute(
            sa.select(mv).where(mv.c.model_name == name).order_by(mv.c.version.desc()).limit(1)
        ).first()
    aliases = alias_map(conn, name)
    listing = ", ".join(f"{a} -> v{v}" for a, v in aliases.items()) or "none"
    hint = None
    if ref == CHAMPION:
        hint = f"no version of {name!r} has been promoted yet; run `conveyor models promote {name} VERSION`"
    raise NotFound(
        f"model {name!r} has no alias {ref!r}{did_you_mean(ref, [*aliases, LATEST])}; aliases: {listing}",
        hint=hint,
    )


def list_versions(conn: sa.Connection, name: str) -> list[ModelVersion]:
    require_model(conn, name)
    rows = conn.execute(
        sa.select(mv).where(mv.c.model_name == name).order_by(mv.c.version.desc())
    ).all()
    return _records(conn, rows)


def list_models(conn: sa.Connection) -> list[ModelSummary]:
    stmt = (
        sa.select(
            mv.c.model_name,
            sa.func.count().label("n"),
            sa.func.max(mv.c.version).label("latest"),
            sa.func.max(mv.c.created_at).label("updated"),
        )
        .group_by(mv.c.model_name)
        .order_by(mv.c.model_name)
    )
    rows = conn.execute(stmt).all()
    alias_rows = conn.execute(
        sa.select(model_aliases.c.model_name, model_aliases.c.alias, mv.c.version)
        .join(mv, mv.c.id == model_aliases.c.model_version_id)
        .order_by(model_aliases.c.alias)
    ).all()
    by_model: dict[str, dict[str, int]] = {}
    for r in alias_rows:
        by_model.setdefault(r.model_name, {})[r.alias] = r.version
    return [
        ModelSummary(
            name=r.model_name,
            versions=r.n,
            latest_version=r.latest,
            aliases=by_model.get(r.model_name, {}),
            updated_at=r.updated,
        )
        for r in rows
    ]


def history(conn: sa.Connection, name: str, alias: str | None = None) -> list[AliasMove]:
    require_model(conn, name)
    h = model_alias_history
    stmt = sa.select(h).where(h.c.model_name == name)
    if alias is not None:
        stmt = stmt.where(h.c.alias == alias)
    return [
        AliasMove(
            model_name=r.model_name,
            alias=r.alias,
            action=r.action,
            from_version=r.from_version,
            to_version=r.to_version,
            reason=r.reason,
            actor=r.actor,
            at=r.at,
        )
        for r in conn.execute(stmt.order_by(h.c.id))
    ]


# ---------------------------------------------------------------- writes


def insert_version(conn: sa.Connection, name: str, values: dict[str, Any]) -> Any:
    """Insert the next version of ``name`` (max + 1); a concurrent twin raises IntegrityError."""
    latest = conn.execute(
        sa.select(sa.func.max(mv.c.version)).where(mv.c.model_name == name)
    ).scalar()
    version = (latest or 0) + 1
    new_id = conn.execute(
        mv.insert()
        .values(model_name=name, version=version, created_at=now(), **values)
        .returning(mv.c.id)
    ).scalar_one()
    return conn.execute(sa.select(mv).where(mv.c.id == new_id)).one()


def set_status_only(conn: sa.Connection, row_id: int, status: str) -> None:
    conn.execute(mv.update().where(mv.c.id == row_id).values(status=status))


def upsert_tag(conn: sa.Connection, row_id: int, key: str, value: str) -> None:
    t = model_version_tags
    updated = conn.execute(
        t.update().where(t.c.model_version_id == row_id, t.c.key == key).values(value=value)
    ).rowcount
    if not updated:
        conn.execute(t.insert().values(model_version_id=row_id, key=key, value=value))
