"""Queries for dataset versions (numbered per project, idempotent on content digest)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from conveyor.errors import NotFound
from conveyor.stores._digests import validate_digest
from conveyor.stores._records import DatasetVersionRecord
from conveyor.stores._sql import ensure_project, lock_project, utcnow
from conveyor.stores._tables import dataset_versions, projects, runs

__all__ = ["get_dataset_version", "list_dataset_versions", "record_dataset_version"]

# "3" or "v3" is a version number; a short all-digit string is never read as a
# digest prefix because version numbers are what people type most.
_VERSION_REF = re.compile(r"v(\d+)|(\d{1,6})")
_DIGEST_PREFIX = re.compile(r"[0-9a-f]{4,64}")
_MAX_SHOWN = 10


def _select() -> sa.Select[Any]:
    return sa.select(*dataset_versions.c, projects.c.name.label("project")).join(
        projects, projects.c.id == dataset_versions.c.project_id
    )


def _record(row: sa.Row[Any]) -> DatasetVersionRecord:
    m = row._mapping
    return DatasetVersionRecord(
        id=m["id"],
        project=m["project"],
        version=m["version"],
        digest=m["digest"],
        rows=m["rows"],
        columns=m["columns"],
        schema=dict(m["schema"] or {}),
        source=dict(m["source"] or {}),
        run_id=m["run_id"],
        created_at=m["created_at"],
    )


def record_dataset_version(
    conn: sa.Connection,
    project: str,
    *,
    digest: str,
    rows: int,
    columns: int,
    schema: Mapping[str, Any],
    source: Mapping[str, Any],
    run_id: str | None,
) -> tuple[DatasetVersionRecord, bool]:
    validate_digest(digest)
    project_id = ensure_project(conn, project)
    lock_project(conn, project_id)
    existing = conn.execute(
        _select().where(
            dataset_versions.c.project_id == project_id, dataset_versions.c.digest == digest
        )
    ).first()
    if existing is not None:
        return _record(existing), False
    if (
        run_id is not None
        and conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).scalar() is None
    ):
        raise NotFound(f"cannot record a dataset version for run {run_id!r}: no such run")
    latest = conn.execute(
        sa.select(sa.func.max(dataset_versions.c.version)).where(
            dataset_versions.c.project_id == project_id
        )
    ).scalar()
    new_id = conn.execute(
        dataset_versions.insert()
        .values(
            project_id=project_id,
            version=(latest or 0) + 1,
            digest=digest,
            rows=rows,
            columns=columns,
            schema=dict(schema),
            source=dict(source),
            run_id=run_id,
            created_at=utcnow(),
        )
        .returning(dataset_versions.c.id)
    ).scalar_one()
    created = conn.execute(_select().where(dataset_versions.c.id == new_id)).one()
    return _record(created), True


def list_dataset_versions(
    conn: sa.Connection, project: str | None, *, limit: int, offset: int
) -> list[DatasetVersionRecord]:
    stmt = _select()
    if project is not None:
        stmt = stmt.where(projects.c.name == project).order_by(dataset_versions.c.version.desc())
    else:
        stmt = stmt.order_by(dataset_versions.c.created_at.desc(), dataset_versions.c.id.desc())
    return [_record(row) for row in conn.execute(stmt.limit(limit).offset(offset))]


def get_dataset_version(
    conn: sa.Connection, ref: str, *, project: str | None
) -> DatasetVersionRecord:
    wanted = str(ref).strip().lower()
    where = f" in project {project!r}" if project else ""
    stmt = _select()
    if project is not None:
        stmt = stmt.where(projects.c.name == project)
    if wanted == "latest":
        stmt = stmt.order_by(dataset_versions.c.created_at.desc(), dataset_versions.c.id.desc())
        rows = conn.execute(stmt.limit(1)).all()
    elif match := _VERSION_REF.fullmatch(wanted):
        number = int(match.group(1) or match.group(2))
        rows = conn.execute(
            stmt.where(dataset_versions.c.version == number).limit(_MAX_SHOWN + 1)
        ).all()
    elif _DIGEST_PREFIX.fullmatch(wanted):
        rows = conn.execute(
            stmt.where(dataset_versions.c.digest.startswith(wanted, autoescape=True))
            .order_by(dataset_versions.c.id)
            .limit(_MAX_SHOWN + 1)
        ).all()
    else:
        raise NotFound(
            f"dataset version {ref!r} not found: expected a version number ('3' or 'v3'), "
            "'latest', or at least 4 hex characters of a digest"
        )
    if not rows:
        raise NotFound(
            f"dataset version {ref!r} not found{where}",
            hint="list dataset versions with `conveyor datasets`",
        )
    if len(rows) > 1:
        shown = ", ".join(f"{r.project} v{r.version} ({r.digest[:12]})" for r in rows[:_MAX_SHOWN])
        raise NotFound(
            f"dataset version {ref!r} is ambiguous{where}: it matches {shown}",
            hint="name the project or give more characters of the digest",
        )
    return _record(rows[0])
