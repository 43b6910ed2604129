"""Runs, comparison and data: the answers the API returns and the pages render."""

from __future__ import annotations

from typing import Any

from conveyor.errors import NotFound, StoreError
from conveyor.ui import _figures, _queries
from conveyor.ui._context import InvalidRequest, UiContext
from conveyor.ui._run_list import RunFilters, run_page
from conveyor.ui._schemas import (
    CompareOut,
    CompareRow,
    DatasetDetail,
    DatasetPage,
    FiguresOut,
    RunDetail,
    RunPage,
    RunRow,
)

__all__ = [
    "MAX_COMPARED",
    "compare_figures",
    "compare_runs",
    "dataset_detail",
    "dataset_page",
    "list_runs",
    "run_detail",
    "run_figures",
]

MAX_COMPARED = 8


def list_runs(
    ctx: UiContext,
    filters: RunFilters,
    *,
    sort: str = "started",
    order: str = "desc",
    page: int = 1,
    per_page: int = 50,
) -> RunPage:
    """One page of runs, filtered and sorted in the database."""
    total, pages, rows = ctx.read(
        lambda conn: run_page(
            conn, filters, sort=sort, descending=order == "desc", page=page, per_page=per_page
        )
    )
    return RunPage(
        total=total,
        page=page,
        per_page=per_page,
        pages=pages,
        sort=sort,
        order=order,
        items=[RunRow(**r) for r in rows],
    )


def run_detail(ctx: UiContext, run_id: str) -> RunDetail:
    """The run page's data. Raises NotFound for an unknown or ambiguous id."""
    data = ctx.read(lambda conn: _queries.run_detail(conn, run_id))
    report, path = _figures.load_report(
        data["report_json"], root=ctx.root, run_id=data["run"]["id"]
    )
    data["report_json"] = path
    data["report_available"] = report is not None
    return RunDetail(**data)


def _report_of(ctx: UiContext, run_id: str) -> tuple[str, dict[str, Any] | None, str]:
    def read(conn: Any) -> tuple[str, str | None]:
        from conveyor.stores import _run_queries

        run = _run_queries.get_run(conn, run_id)
        return run.id, run.summary.get("report_json")

    full_id, recorded = ctx.read(read)
    report, path = _figures.load_report(recorded, root=ctx.root, run_id=full_id)
    return full_id, report, path


def run_figures(ctx: UiContext, run_id: str) -> FiguresOut:
    """Plots of the run's evaluation report (none, with a note, when there is no report)."""
    full_id, report, path = _report_of(ctx, run_id)
    if report is None:
        return FiguresOut(
            figures=[], notes=[f"no evaluation report for run {full_id} (looked at {path})"]
        )
    return FiguresOut(figures=_figures.run_figures(report))


def _parse_ids(ids: list[str]) -> list[str]:
    wanted: list[str] = []
    for item in ids:
        for part in item.split(","):
            part = part.strip()
            if part and part not in wanted:
                wanted.append(part)
    if not 2 <= len(wanted) <= MAX_COMPARED:
        raise InvalidRequest(
            f"compare needs 2 to {MAX_COMPARED} distinct run ids, got {len(wanted)}"
            + (f" ({', '.join(wanted)})" if wanted else "")
        )
    return wanted


def _differs(values: list[Any]) -> bool:
    return any(v != values[0] for v in values[1:])


def compare_runs(ctx: UiContext, ids: list[str]) -> CompareOut:
    """Two or more runs side by side: params (differences flagged) and test metrics.

    Raises:
        InvalidRequest: fewer than 2 or more than :data:`MAX_COMPARED` ids.
        NotFound: an id matches no run.
    """
    from conveyor.evaluate.metrics import greater_is_better

    details = [run_detail(ctx, run_id) for run_id in _parse_ids(ids)]
    keys = sorted({k for d in details for k in d.params})
    params = []
    for key in keys:
        values = [d.params.get(key) for d in details]
        params.append(CompareRow(key=key, values=values, differs=_differs(values)))
    metric_names = sorted({k for d in details for k in d.metrics})
    metrics = []
    for name in metric_names:
        values = [d.metrics.get(name) for d in details]
        present = [(i, v) for i, v in enumerate(values) if v is not None]
        best = None
        if len(present) > 1 and _differs([v for _, v in present]):
            try:
                higher = greater_is_better(name)
            except Exception:  # a metric the evaluator does not know: no "best"
                higher = None
            if higher is not None:
                pick = max if higher else min
                best = pick(present, key=lambda item: item[1])[0]
        metrics.append(CompareRow(key=name, values=values, differs=_differs(values), best=best))
    return CompareOut(runs=[d.run for d in details], params=params, metrics=metrics)


def compare_figures(ctx: UiContext, ids: list[str]) -> FiguresOut:
    """The compared runs' curves overlaid (ROC, PR, tuning best-so-far)."""
    reports, notes = [], []
    for run_id in _parse_ids(ids):
        full_id, report, path = _report_of(ctx, run_id)
        if report is None:
            notes.append(f"no evaluation report for run {full_id} (looked at {path})")
        else:
            reports.append((full_id, report))
    return FiguresOut(figures=_figures.compare_figures(reports), notes=notes)


def dataset_page(ctx: UiContext, *, project: str | None, page: int, per_page: int) -> DatasetPage:
    """Dataset versions, newest first."""
    return DatasetPage(
        **ctx.read(
            lambda conn: _queries.dataset_page(conn, project=project, page=page, per_page=per_page)
        )
    )


def dataset_detail(ctx: UiContext, ref: str, *, project: str | None) -> DatasetDetail:
    """One dataset version with its schema and validation report.

    Raises:
        NotFound: no version matches ``ref`` (``3``, ``v3``, ``latest`` or a digest prefix).
    """
    data = ctx.read(lambda conn: _queries.dataset_detail(conn, ref, project=project))
    digest = data.pop("validation_digest")
    validation = None
    if digest is not None:
        import orjson

        try:
            loaded = orjson.loads(ctx.project.artifacts.get_bytes(digest))
        except (NotFound, StoreError, orjson.JSONDecodeError):
            loaded = None
        validation = loaded if isinstance(loaded, dict) else None
    return DatasetDetail(**data, validation=validation)
