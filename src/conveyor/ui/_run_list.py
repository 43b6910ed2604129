"""The runs list: filtered, sorted and paginated in SQL, on SQLite and PostgreSQL.

The derived columns (model, primary metric, dataset version) are SQL
expressions over the run's summary and lineage, so sorting and filtering on
them happen in the database. A page is read in two steps: the ids of the page
(only the sort key is computed for every matching run), then the full rows of
those ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from conveyor.registry._tables import model_versions
from conveyor.stores._tables import dataset_versions, projects, runs, step_artifacts, steps

__all__ = ["RUN_SORT_KEYS", "RunFilters", "dataset_version_of_run", "run_page", "run_rows"]

RUN_SORT_KEYS = ("started", "duration", "status", "kind", "model", "metric", "dataset", "id")


@dataclass(frozen=True)
class RunFilters:
    """What the runs list is narrowed to (None: no filter)."""

    status: str | None = None
    kind: str | None = None
    model: str | None = None
    project: str | None = None
    dataset_version: int | None = None
    id_prefix: str | None = None


def _summary_text(key: str) -> sa.ColumnElement[Any]:
    return runs.c.summary[key].as_string()


def _metric_name(dialect: str) -> sa.ColumnElement[Any]:
    """The primary metric's name: the first word of summary.primary_metric ('roc_auc 0.85 (test)')."""
    text = _summary_text("primary_metric")
    if dialect == "postgresql":
        return sa.func.nullif(sa.func.split_part(text, " ", 1), "")
    space = sa.func.instr(text, " ")
    return sa.case((space > 0, sa.func.substr(text, 1, space - 1)), else_=text)


def _metric_value(dialect: str) -> sa.ColumnElement[Any]:
    """The winner's value of the primary metric (the first leaderboard row) on the test split."""
    name = _metric_name(dialect)
    if dialect == "postgresql":
        winner = runs.c.summary.op("->")(sa.literal("leaderboard")).op("->")(sa.literal(0))
        return sa.cast(winner.op("->>")(name), sa.Float)
    path = sa.literal('$.leaderboard[0]."') + name + sa.literal('"')
    return sa.cast(sa.func.json_extract(runs.c.summary, path), sa.Float)


def _registered_model() -> sa.ScalarSelect[Any]:
    mv = model_versions
    return (
        sa.select(mv.c.model_name + sa.literal(" v") + sa.cast(mv.c.version, sa.String))
        .where(mv.c.run_id == runs.c.id)
        .order_by(mv.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _model(dialect: str) -> sa.ColumnElement[Any]:
    """'<model> v<version>': from the summary, else the version the run registered (rejected)."""
    return sa.func.coalesce(_summary_text("model"), _registered_model())


def dataset_version_of_run() -> sa.ScalarSelect[Any]:
    """The number of the first dataset version a step of the run produced (or reused)."""
    s, link, dv = steps.alias("dv_step"), step_artifacts.alias("dv_link"), dataset_versions
    return (
        sa.select(dv.c.version)
        .select_from(
            s.join(link, link.c.step_id == s.c.id).join(
                dv, sa.and_(dv.c.digest == link.c.digest, dv.c.project_id == runs.c.project_id)
            )
        )
        .where(s.c.run_id == runs.c.id, link.c.direction == "output")
        .order_by(s.c.position, s.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _sort_expression(key: str, dialect: str) -> sa.ColumnElement[Any]:
    expressions: dict[str, Any] = {
        "started": runs.c.started_at,
        "duration": runs.c.duration_s,
        "status": runs.c.status,
        "kind": runs.c.kind,
        "id": runs.c.id,
        "model": _model(dialect),
        "metric": _metric_value(dialect),
        "dataset": dataset_version_of_run(),
    }
    if key not in expressions:
        raise ValueError(f"sort key {key!r} is not one of {', '.join(RUN_SORT_KEYS)}")
    return expressions[key]


def _where(stmt: sa.Select[Any], filters: RunFilters, dialect: str) -> sa.Select[Any]:
    if filters.project is not None:
        stmt = stmt.where(projects.c.name == filters.project)
    if filters.status is not None:
        stmt = stmt.where(runs.c.status == filters.status)
    if filters.kind is not None:
        stmt = stmt.where(runs.c.kind == filters.kind)
    if filters.id_prefix:
        stmt = stmt.where(runs.c.id.startswith(filters.id_prefix.lower(), autoescape=True))
    if filters.model:
        model = _model(dialect)
        stmt = stmt.where(
            sa.or_(model == filters.model, model.startswith(f"{filters.model} v", autoescape=True))
        )
    if filters.dataset_version is not None:
        stmt = stmt.where(dataset_version_of_run() == filters.dataset_version)
    return stmt


def _base() -> sa.Select[Any]:
    return sa.select(runs.c.id).join(projects, projects.c.id == runs.c.project_id)


def run_page(
    conn: sa.Connection,
    filters: RunFilters,
    *,
    sort: str,
    descending: bool,
    page: int,
    per_page: int,
) -> tuple[int, int, list[dict[str, Any]]]:
    """``(total, pages, rows)`` of one page of runs.

    Args:
        sort: one of :data:`RUN_SORT_KEYS`.
        descending: sort order; missing values (a run without a metric) sort last either way.
        page: 1-based page number (a page past the end is empty).
        per_page: rows per page.
    """
    dialect = conn.dialect.name
    total = conn.execute(
        _where(_base(), filters, dialect).with_only_columns(sa.func.count(runs.c.id))
    ).scalar_one()
    key = _sort_expression(sort, dialect)
    ordered = key.desc() if descending else key.asc()
    tie = runs.c.id.desc() if descending else runs.c.id.asc()
    ids_stmt = (
        _where(_base(), filters, dialect)
        .order_by(ordered.nulls_last(), tie)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    ids = list(conn.execute(ids_stmt).scalars())
    by_id = {row["id"]: row for row in run_rows(conn, ids)}
    pages = max(1, math.ceil(total / per_page))
    return total, pages, [by_id[i] for i in ids if i in by_id]


def run_rows(conn: sa.Connection, ids: list[str]) -> list[dict[str, Any]]:
    """The list columns of the given runs (in no particular order)."""
    if not ids:
        return []
    dialect = conn.dialect.name
    stmt = (
        sa.select(
            runs.c.id,
            projects.c.name.label("project"),
            runs.c.kind,
            runs.c.status,
            _model(dialect).label("model"),
            _metric_name(dialect).label("primary_metric"),
            _metric_value(dialect).label("primary_value"),
            dataset_version_of_run().label("dataset_version"),
            runs.c.duration_s,
            runs.c.started_at,
            runs.c.error,
        )
        .join(projects, projects.c.id == runs.c.project_id)
        .where(runs.c.id.in_(ids))
    )
    rows = []
    for row in conn.execute(stmt):
        item = dict(row._mapping)
        value = item["primary_value"]
        item["primary_value"] = None if value is None or not math.isfinite(value) else float(value)
        rows.append(item)
    return rows
