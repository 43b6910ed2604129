"""Queries for runs and their steps (each function runs inside the caller's transaction)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from conveyor.errors import NotFound
from conveyor.stores._digests import validate_digest
from conveyor.stores._records import RUN_STATUSES, STEP_STATUSES, RunRecord, StepRecord
from conveyor.stores._sql import ensure_project, utcnow
from conveyor.stores._tables import projects, runs, step_artifacts, steps

__all__ = [
    "create_run",
    "find_cached_step",
    "finish_run",
    "finish_step",
    "get_run",
    "interrupt_run",
    "list_runs",
    "list_steps",
    "running_runs_on_host",
    "start_step",
]

_RUN_ID = re.compile(r"[0-9a-f]{1,12}")
_CANDIDATES_SHOWN = 10
_RUN_COLUMNS = (*runs.c, projects.c.name.label("project"))


def _check_status(status: str, allowed: frozenset[str], what: str) -> None:
    if status not in allowed:
        raise ValueError(f"{what} status {status!r} is not one of {', '.join(sorted(allowed))}")


def _run_select() -> sa.Select[Any]:
    return sa.select(*_RUN_COLUMNS).join(projects, projects.c.id == runs.c.project_id)


def _run_record(row: sa.Row[Any]) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"],
        project=m["project"],
        kind=m["kind"],
        status=m["status"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        duration_s=m["duration_s"],
        config=dict(m["config"] or {}),
        config_fingerprint=m["config_fingerprint"],
        code_version=m["code_version"],
        command=m["command"],
        error=m["error"],
        summary=dict(m["summary"] or {}),
        pid=m["pid"],
        host=m["host"],
        parent_run_id=m["parent_run_id"],
    )


def _duration(started_at: datetime, finished_at: datetime) -> float:
    return max((finished_at - started_at).total_seconds(), 0.0)


def create_run(
    conn: sa.Connection,
    project: str,
    *,
    config: Mapping[str, Any],
    config_fingerprint: str,
    kind: str,
    code_version: str | None,
    command: str | None,
    pid: int | None,
    host: str | None,
    parent_run_id: str | None,
) -> str:
    if not kind:
        raise ValueError("run kind must not be empty")
    project_id = ensure_project(conn, project)
    if parent_run_id is not None:
        exists = conn.execute(sa.select(runs.c.id).where(runs.c.id == parent_run_id)).scalar()
        if exists is None:
            raise NotFound(f"parent run {parent_run_id!r} does not exist")
    run_id = uuid.uuid4().hex[:12]
    conn.execute(
        runs.insert().values(
            id=run_id,
            project_id=project_id,
            kind=kind,
            status="running",
            started_at=utcnow(),
            config=dict(config),
            config_fingerprint=config_fingerprint,
            code_version=code_version,
            command=command,
            summary={},
            pid=pid,
            host=host,
            parent_run_id=parent_run_id,
        )
    )
    return run_id


def finish_run(
    conn: sa.Connection,
    run_id: str,
    *,
    status: str,
    error: str | None,
    summary: Mapping[str, Any] | None,
) -> None:
    _check_status(status, RUN_STATUSES, "run")
    started_at = conn.execute(sa.select(runs.c.started_at).where(runs.c.id == run_id)).scalar()
    if started_at is None:
        raise NotFound(f"run {run_id!r} does not exist", hint="list runs with `conveyor runs`")
    finished_at = None if status == "running" else utcnow()
    values: dict[str, Any] = {
        "status": status,
        "error": error,
        "finished_at": finished_at,
        "duration_s": None if finished_at is None else _duration(started_at, finished_at),
    }
    if summary is not None:
        values["summary"] = dict(summary)
    conn.execute(runs.update().where(runs.c.id == run_id).values(**values))


def get_run(conn: sa.Connection, ref: str) -> RunRecord:
    wanted = ref.strip().lower() if isinstance(ref, str) else ""
    if not _RUN_ID.fullmatch(wanted):
        raise NotFound(
            f"run {ref!r} not found: a run id is 12 hex characters (or a unique prefix of one)"
        )
    exact = conn.execute(_run_select().where(runs.c.id == wanted)).first()
    if exact is not None:
        return _run_record(exact)
    rows = conn.execute(
        _run_select()
        .where(runs.c.id.startswith(wanted, autoescape=True))
        .order_by(runs.c.started_at.desc())
        .limit(_CANDIDATES_SHOWN + 1)
    ).all()
    if not rows:
        raise NotFound(f"run {ref!r} not found", hint="list runs with `conveyor runs`")
    if len(rows) > 1:
        shown = ", ".join(f"{r.id} ({r.project}, {r.status})" for r in rows[:_CANDIDATES_SHOWN])
        more = " and more" if len(rows) > _CANDIDATES_SHOWN else ""
        raise NotFound(
            f"run prefix {ref!r} is ambiguous: it matches {shown}{more}",
            hint="give more characters of the run id",
        )
    return _run_record(rows[0])


def list_runs(
    conn: sa.Connection, *, project: str | None, status: str | None, limit: int, offset: int
) -> list[RunRecord]:
    stmt = _run_select()
    if project is not None:
        stmt = stmt.where(projects.c.name == project)
    if status is not None:
        _check_status(status, RUN_STATUSES, "run")
        stmt = stmt.where(runs.c.status == status)
    stmt = stmt.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit).offset(offset)
    return [_run_record(row) for row in conn.execute(stmt)]


def running_runs_on_host(conn: sa.Connection, host: str) -> list[tuple[str, int | None]]:
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.pid).where(runs.c.status == "running", runs.c.host == host)
    )
    return [(row.id, row.pid) for row in rows]


def interrupt_run(conn: sa.Connection, run_id: str, *, error: str) -> bool:
    """Mark a still-running run (and its running steps) interrupted; False if it moved on."""
    started_at = conn.execute(
        sa.select(runs.c.started_at).where(runs.c.id == run_id, runs.c.status == "running")
    ).scalar()
    if started_at is None:
        return False
    now = utcnow()
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.status == "running")
        .values(
            status="interrupted",
            error=error,
            finished_at=now,
            duration_s=_duration(started_at, now),
        )
    )
    conn.execute(
        steps.update()
        .where(steps.c.run_id == run_id, steps.c.status == "running")
        .values(status="interrupted", error=error, finished_at=now)
    )
    return True


def start_step(
    conn: sa.Connection, run_id: str, name: str, *, fingerprint: str, position: int
) -> int:
    if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).scalar() is None:
        raise NotFound(f"cannot start step {name!r}: run {run_id!r} does not exist")
    result = conn.execute(
        steps.insert()
        .values(
            run_id=run_id,
            name=name,
            position=position,
            status="running",
            fingerprint=fingerprint,
            cached=False,
            metrics={},
            notes=[],
            warnings=[],
            started_at=utcnow(),
        )
        .returning(steps.c.id)
    )
    return int(result.scalar_one())


def finish_step(
    conn: sa.Connection,
    step_id: int,
    *,
    status: str,
    cached: bool,
    inputs: Mapping[str, str] | None,
    outputs: Mapping[str, str] | None,
    rows_in: int | None,
    rows_out: int | None,
    duration_s: float | None,
    metrics: Mapping[str, Any] | None,
    notes: list[str] | None,
    warnings: list[str] | None,
    error: str | None,
    fingerprint: str | None = None,
) -> None:
    _check_status(status, STEP_STATUSES, "step")
    links = [
        {"step_id": step_id, "direction": direction, "name": name, "digest": validate_digest(d)}
        for direction, mapping in (("input", inputs), ("output", outputs))
        for name, d in (mapping or {}).items()
    ]
    started_at = conn.execute(sa.select(steps.c.started_at).where(steps.c.id == step_id)).scalar()
    if started_at is None:
        raise NotFound(f"step {step_id} does not exist")
    finished_at = utcnow()
    conn.execute(
        steps.update()
        .where(steps.c.id == step_id)
        .values(
            status=status,
            cached=bool(cached),
            rows_in=rows_in,
            rows_out=rows_out,
            duration_s=_duration(started_at, finished_at) if duration_s is None else duration_s,
            metrics=dict(metrics or {}),
            notes=list(notes or []),
            warnings=list(warnings or []),
            error=error,
            finished_at=finished_at,
            **({"fingerprint": fingerprint} if fingerprint else {}),
        )
    )
    # Replace rather than merge, so finishing a step twice records its final lineage only.
    conn.execute(step_artifacts.delete().where(step_artifacts.c.step_id == step_id))
    if links:
        conn.execute(step_artifacts.insert(), links)


def _step_records(conn: sa.Connection, rows: list[sa.Row[Any]]) -> list[StepRecord]:
    ids = [row.id for row in rows]
    links: dict[int, dict[str, dict[str, str]]] = {i: {"input": {}, "output": {}} for i in ids}
    if ids:
        for link in conn.execute(
            sa.select(step_artifacts).where(step_artifacts.c.step_id.in_(ids))
        ):
            links[link.step_id][link.direction][link.name] = link.digest
    return [
        StepRecord(
            id=row.id,
            run_id=row.run_id,
            name=row.name,
            position=row.position,
            status=row.status,
            fingerprint=row.fingerprint,
            cached=bool(row.cached),
            inputs=links[row.id]["input"],
            outputs=links[row.id]["output"],
            rows_in=row.rows_in,
            rows_out=row.rows_out,
            duration_s=row.duration_s,
            metrics=dict(row.metrics or {}),
            notes=list(row.notes or []),
            warnings=list(row.warnings or []),
            error=row.error,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )
        for row in rows
    ]


def list_steps(conn: sa.Connection, run_id: str) -> list[StepRecord]:
    rows = conn.execute(
        sa.select(steps).where(steps.c.run_id == run_id).order_by(steps.c.position, steps.c.id)
    ).all()
    if not rows and conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).scalar() is None:
        raise NotFound(f"run {run_id!r} does not exist", hint="list runs with `conveyor runs`")
    return _step_records(conn, rows)


def find_cached_step(conn: sa.Connection, fingerprint: str) -> StepRecord | None:
    row = conn.execute(
        sa.select(steps)
        .where(steps.c.fingerprint == fingerprint, steps.c.status == "succeeded")
        .order_by(steps.c.finished_at.desc(), steps.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _step_records(conn, [row])[0]
