"""Reads behind the run, data and model pages (SQLAlchemy Core, parameterised, paginated).

Each function takes an open connection and returns plain dicts shaped like the
API's response models. Unknown ids raise :class:`~conveyor.errors.NotFound`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from conveyor.registry._queries import require_model
from conveyor.registry._tables import model_alias_history, model_aliases, model_versions
from conveyor.stores import _dataset_queries, _run_queries
from conveyor.stores._tables import dataset_versions, projects, runs, step_artifacts, steps
from conveyor.ui._run_list import run_rows

__all__ = [
    "alias_history",
    "dataset_detail",
    "dataset_page",
    "flatten_config",
    "model_versions_page",
    "primary_metric_of_model",
    "run_detail",
    "step_output_digest",
]

_MAX_PARAM_TEXT = 500


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config as ``{"models.0.params.C": 1.0, ...}``; long values are cut with a marker.

    Example:
        >>> flatten_config({"split": {"train": 0.7}, "models": [{"name": "a"}]})
        {'split.train': 0.7, 'models.0.name': 'a'}
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{path}."))
        elif isinstance(value, list) and value and any(isinstance(v, Mapping) for v in value):
            flat.update(flatten_config({str(i): v for i, v in enumerate(value)}, f"{path}."))
        elif isinstance(value, list | Mapping):
            text = repr(value) if value else ("[]" if isinstance(value, list) else "{}")
            flat[path] = text if len(text) <= _MAX_PARAM_TEXT else text[:_MAX_PARAM_TEXT] + "…"
        elif isinstance(value, str) and len(value) > _MAX_PARAM_TEXT:
            flat[path] = value[:_MAX_PARAM_TEXT] + "…"
        else:
            flat[path] = value
    return flat


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def step_output_digest(conn: sa.Connection, run_id: str, output: str) -> str | None:
    """The digest of output ``output`` of any step of ``run_id`` (None when absent)."""
    return conn.execute(
        sa.select(step_artifacts.c.digest)
        .join(steps, steps.c.id == step_artifacts.c.step_id)
        .where(
            steps.c.run_id == run_id,
            step_artifacts.c.direction == "output",
            step_artifacts.c.name == output,
        )
        .order_by(steps.c.id.desc())
        .limit(1)
    ).scalar()


def _lineage(conn: sa.Connection, run: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    lineage: dict[str, Any] = {"run_id": run.id, "dataset_version": row.get("dataset_version")}
    if lineage["dataset_version"] is not None:
        dv = conn.execute(
            sa.select(
                dataset_versions.c.digest, dataset_versions.c.rows, dataset_versions.c.columns
            )
            .join(projects, projects.c.id == dataset_versions.c.project_id)
            .where(
                projects.c.name == run.project,
                dataset_versions.c.version == lineage["dataset_version"],
            )
        ).first()
        if dv is not None:
            lineage.update(
                dataset_digest=dv.digest, dataset_rows=dv.rows, dataset_columns=dv.columns
            )
    mv = model_versions
    version = conn.execute(
        sa.select(mv.c.id, mv.c.model_name, mv.c.version, mv.c.status)
        .where(mv.c.run_id == run.id)
        .order_by(mv.c.id.desc())
        .limit(1)
    ).first()
    if version is None and isinstance(run.summary.get("model"), str):
        # A re-run whose bundle was registered before points at that earlier version.
        name, _, number = run.summary["model"].rpartition(" v")
        if name and number.isdigit():
            version = conn.execute(
                sa.select(mv.c.id, mv.c.model_name, mv.c.version, mv.c.status).where(
                    mv.c.model_name == name, mv.c.version == int(number)
                )
            ).first()
    if version is not None:
        aliases = conn.execute(
            sa.select(model_aliases.c.alias)
            .where(model_aliases.c.model_version_id == version.id)
            .order_by(model_aliases.c.alias)
        ).scalars()
        lineage.update(
            model_name=version.model_name,
            model_version=version.version,
            model_status=version.status,
            model_aliases=list(aliases),
        )
    return lineage


def run_detail(conn: sa.Connection, ref: str) -> dict[str, Any]:
    """Everything the run page shows about run ``ref`` (id or unique prefix).

    Raises:
        NotFound: no run matches, or the prefix is ambiguous.
    """
    run = _run_queries.get_run(conn, ref)
    step_records = _run_queries.list_steps(conn, run.id)
    row = run_rows(conn, [run.id])[0]
    by_name = {s.name: s for s in step_records}
    failed = next((s for s in step_records if s.status == "failed"), None)
    evaluate = by_name.get("evaluate")
    train = by_name.get("train")
    metrics = {
        k: _finite(v)
        for k, v in ((evaluate.metrics.get("test") or {}) if evaluate else {}).items()
        if not isinstance(v, bool) and isinstance(v, int | float)
    }
    return {
        "run": row,
        "finished_at": run.finished_at,
        "command": run.command,
        "code_version": run.code_version,
        "config_fingerprint": run.config_fingerprint,
        "host": run.host,
        "parent_run_id": run.parent_run_id,
        "steps": [
            {
                "name": s.name,
                "position": s.position,
                "status": s.status,
                "cached": s.cached,
                "duration_s": s.duration_s,
                "rows_in": s.rows_in,
                "rows_out": s.rows_out,
                "error": s.error,
                "warnings": s.warnings,
                "notes": s.notes,
            }
            for s in step_records
        ],
        "failed_step": None
        if failed is None
        else {"name": failed.name, "error": failed.error or run.error or "failed"},
        "params": flatten_config(run.config),
        "metrics": metrics,
        "leaderboard": list(run.summary.get("leaderboard") or []),
        "validation_leaderboard": list((train.metrics.get("leaderboard") if train else None) or []),
        "lineage": _lineage(conn, run, row),
        "report_json": run.summary.get("report_json"),
    }


# ---------------------------------------------------------------- datasets


def _dataset_select() -> sa.Select[Any]:
    used_by = (
        sa.select(sa.func.count(sa.distinct(steps.c.run_id)))
        .select_from(step_artifacts.join(steps, steps.c.id == step_artifacts.c.step_id))
        .where(
            step_artifacts.c.digest == dataset_versions.c.digest,
            step_artifacts.c.direction == "output",
        )
        .scalar_subquery()
    )
    return sa.select(
        projects.c.name.label("project"),
        dataset_versions.c.version,
        dataset_versions.c.digest,
        dataset_versions.c.rows,
        dataset_versions.c.columns,
        dataset_versions.c.run_id,
        dataset_versions.c.created_at,
        used_by.label("used_by_runs"),
    ).join(projects, projects.c.id == dataset_versions.c.project_id)


def dataset_page(
    conn: sa.Connection, *, project: str | None, page: int, per_page: int
) -> dict[str, Any]:
    """Dataset versions, newest first, one page."""
    count = sa.select(sa.func.count(dataset_versions.c.id)).join(
        projects, projects.c.id == dataset_versions.c.project_id
    )
    stmt = _dataset_select()
    if project is not None:
        count = count.where(projects.c.name == project)
        stmt = stmt.where(projects.c.name == project)
    total = conn.execute(count).scalar_one()
    rows = conn.execute(
        stmt.order_by(dataset_versions.c.created_at.desc(), dataset_versions.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return {
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, math.ceil(total / per_page)),
        "items": [dict(r._mapping) for r in rows],
    }


def dataset_detail(conn: sa.Connection, ref: str, *, project: str | None) -> dict[str, Any]:
    """One dataset version: counts, schema, source, and the runs that used it.

    The validation report is looked up by the caller (it is an artifact);
    ``validation_digest`` says where.
    """
    record = _dataset_queries.get_dataset_version(conn, ref, project=project)
    row = conn.execute(_dataset_select().where(dataset_versions.c.id == record.id)).one()._mapping
    run_ids = list(
        conn.execute(
            sa.select(steps.c.run_id)
            .join(step_artifacts, steps.c.id == step_artifacts.c.step_id)
            .join(runs, runs.c.id == steps.c.run_id)
            .where(step_artifacts.c.digest == record.digest, step_artifacts.c.direction == "output")
            .group_by(steps.c.run_id)
            .order_by(sa.func.max(runs.c.started_at).desc())
            .limit(10)
        ).scalars()
    )
    validate = None
    if record.run_id is not None:
        validate = conn.execute(
            sa.select(steps.c.id, steps.c.rows_in, steps.c.rows_out)
            .where(steps.c.run_id == record.run_id, steps.c.name == "validate")
            .order_by(steps.c.id.desc())
            .limit(1)
        ).first()
    digest = (
        None
        if record.run_id is None
        else step_output_digest(conn, record.run_id, "validation_report")
    )
    recent = {r["id"]: r for r in run_rows(conn, run_ids)}
    return {
        "dataset": dict(row),
        "schema": {str(k): str(v) for k, v in record.schema.items()},
        "source": record.source,
        "validation_digest": digest,
        "validation_rows_in": validate.rows_in if validate else None,
        "validation_rows_out": validate.rows_out if validate else None,
        "recent_runs": [recent[i] for i in run_ids if i in recent],
    }


# ---------------------------------------------------------------- models


def _gates(value: Any) -> tuple[bool | None, list[dict[str, Any]]]:
    if not isinstance(value, Mapping):
        return None, []
    results = [r for r in value.get("results") or [] if isinstance(r, Mapping)]
    passed = value.get("passed")
    return (bool(passed) if passed is not None else None), [dict(r) for r in results]


def model_versions_page(
    conn: sa.Connection, name: str, *, page: int, per_page: int, primary_metric: str | None
) -> dict[str, Any]:
    """Versions of model ``name``, newest first, with aliases and gates.

    Raises:
        NotFound: the model is not registered (the message lists known models).
    """
    require_model(conn, name)
    mv = model_versions
    total = conn.execute(
        sa.select(sa.func.count(mv.c.id)).where(mv.c.model_name == name)
    ).scalar_one()
    rows = conn.execute(
        sa.select(mv)
        .where(mv.c.model_name == name)
        .order_by(mv.c.version.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    aliases: dict[int, list[str]] = {}
    for r in conn.execute(
        sa.select(model_aliases.c.alias, model_aliases.c.model_version_id)
        .where(model_aliases.c.model_name == name)
        .order_by(model_aliases.c.alias)
    ):
        aliases.setdefault(r.model_version_id, []).append(r.alias)
    versions = []
    for r in rows:
        passed, results = _gates(r.gates)
        metrics = r.metrics if isinstance(r.metrics, Mapping) else {}
        versions.append(
            {
                "version": r.version,
                "status": r.status,
                "aliases": aliases.get(r.id, []),
                "run_id": r.run_id,
                "dataset_version": r.dataset_version,
                "created_at": r.created_at,
                "primary_value": _finite(metrics.get(primary_metric)) if primary_metric else None,
                "gates_passed": passed,
                "gates": results,
                "description": r.description,
            }
        )
    return {"total_versions": total, "versions": versions}


def alias_history(conn: sa.Connection, name: str, *, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` alias moves of model ``name``, newest first."""
    h = model_alias_history
    rows = conn.execute(
        sa.select(h).where(h.c.model_name == name).order_by(h.c.id.desc()).limit(limit)
    )
    return [
        {
            "alias": r.alias,
            "action": r.action,
            "from_version": r.from_version,
            "to_version": r.to_version,
            "reason": r.reason,
            "actor": r.actor,
            "at": r.at,
        }
        for r in rows
    ]


def primary_metric_of_model(conn: sa.Connection, name: str) -> str | None:
    """The primary metric of the newest run that registered ``name`` (from its summary)."""
    mv = model_versions
    run_id = conn.execute(
        sa.select(mv.c.run_id)
        .where(mv.c.model_name == name, mv.c.run_id.is_not(None))
        .order_by(mv.c.version.desc())
        .limit(1)
    ).scalar()
    if run_id is None:
        return None
    summary = conn.execute(sa.select(runs.c.summary).where(runs.c.id == run_id)).scalar()
    text = (summary or {}).get("primary_metric") if isinstance(summary, Mapping) else None
    return text.split(" ", 1)[0] if isinstance(text, str) and text else None
