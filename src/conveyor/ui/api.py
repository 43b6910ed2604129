"""The dashboard's JSON API under ``/api/`` (documented at ``/api/openapi.json`` and ``/api/docs``).

Every list is filtered, sorted and paginated in the database. Errors are
``{"detail": "..."}``: 404 for an unknown run, model or dataset version, 422
for a bad parameter (naming what is allowed), 401/403 when a key is missing or
lacks the ``admin`` scope, 409 when the registry refuses a move.

FastAPI reads the annotations of the route functions at run time, and some
name types local to :func:`build_api`, so this module does not use postponed
annotations.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from conveyor.ui import _service_deploy as deploy_service
from conveyor.ui import _service_models as models_service
from conveyor.ui import _service_ops as ops_service
from conveyor.ui import _service_runs as runs_service
from conveyor.ui._auth import Caller
from conveyor.ui._context import UiContext
from conveyor.ui._run_list import RunFilters
from conveyor.ui._schemas import (
    ActionResult,
    CanaryIn,
    CompareOut,
    DatasetDetail,
    DatasetPage,
    DeploymentsOut,
    FiguresOut,
    ModelDetail,
    ModelsOut,
    MonitoringOut,
    PromoteIn,
    RollbackIn,
    RunDetail,
    RunPage,
    TrafficOut,
)

__all__ = ["RunListParams", "SortKey", "StatusFilter", "build_api"]

SortKey = Literal["started", "duration", "status", "kind", "model", "metric", "dataset", "id"]
StatusFilter = Literal["running", "succeeded", "failed", "interrupted"]
RunIdPrefix = Annotated[str, Query(pattern=r"^[0-9a-fA-F]{1,12}$", description="run id prefix")]
OptionalName = Annotated[str | None, Query(max_length=200)]
PageNumber = Annotated[int, Query(ge=1)]
PerPage = Annotated[int, Query(ge=1, le=200)]


class RunListParams:
    """The runs list's query parameters, shared by ``/api/runs`` and the ``/runs`` page."""

    def __init__(
        self,
        status: Annotated[
            StatusFilter | None, Query(description="only runs in this status")
        ] = None,
        kind: Annotated[
            str | None, Query(max_length=40, description="run, tune, reproduce…")
        ] = None,
        model: Annotated[str | None, Query(max_length=200, description="registered model")] = None,
        project: OptionalName = None,
        dataset: Annotated[int | None, Query(ge=1, description="dataset version number")] = None,
        q: Annotated[
            str | None, Query(pattern=r"^[0-9a-fA-F]{0,12}$", description="id prefix")
        ] = None,
        sort: Annotated[SortKey, Query(description="column to sort by")] = "started",
        order: Annotated[Literal["asc", "desc"], Query()] = "desc",
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        per_page: PerPage = 50,
    ) -> None:
        self.filters = RunFilters(
            status=status,
            kind=kind or None,
            model=model or None,
            project=project or None,
            dataset_version=dataset,
            id_prefix=q or None,
        )
        self.sort, self.order, self.page, self.per_page = sort, order, page, per_page

    def query(self, **changes: object) -> dict[str, object]:
        """The parameters as a query dict (for links), with ``changes`` applied."""
        f = self.filters
        values: dict[str, object] = {
            "status": f.status,
            "kind": f.kind,
            "model": f.model,
            "project": f.project,
            "dataset": f.dataset_version,
            "q": f.id_prefix,
            "sort": self.sort,
            "order": self.order,
            "page": self.page,
            "per_page": self.per_page,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in (None, "")}


class TrafficWindow:
    """The query of ``/api/traffic`` and its figures: the last ``hours``, of one model or all."""

    def __init__(
        self, hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24, model: OptionalName = None
    ) -> None:
        self.options: dict[str, Any] = {"hours": hours, "model": model or None}


class MonitoringWindow:
    """The query of ``/api/monitoring`` and its figures: one model's last ``days``."""

    def __init__(
        self, model: OptionalName = None, days: Annotated[int, Query(ge=1, le=365)] = 30
    ) -> None:
        self.options: dict[str, Any] = {"model": model or None, "days": days}


def build_api(ctx: UiContext) -> APIRouter:
    """The ``/api`` routes over ``ctx``."""
    reader = ctx.access.reader
    admin = ctx.access.admin
    router = APIRouter(prefix="/api", tags=["dashboard"])
    Reader = Annotated[Caller, Depends(reader)]

    async def require_json(request: Request) -> None:
        from fastapi import HTTPException

        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HTTPException(
                415, f"expected Content-Type application/json, got {ctype or 'none'!r}"
            )

    Admin = Annotated[Caller, Depends(admin)]
    JsonBody = Depends(require_json)

    def admin_action(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``POST path``, an admin's change with a JSON body, answered by an ``ActionResult``."""
        return router.post(
            path, response_model=ActionResult, dependencies=[JsonBody], summary=summary
        )

    def get_view(
        path: str,
        response_model: type,
        summary: str,
        service: Callable[..., Any],
        window: type[TrafficWindow | MonitoringWindow] | None = None,
    ) -> None:
        """``GET path`` for readers: ``service(ctx)``, with the window's query as keywords.

        The route is named after the service, as its own function was (the
        OpenAPI operation id is made from that name).
        """
        if window is None:

            def view(_: Reader) -> Any:
                return service(ctx)
        else:

            def view(_: Reader, query: Annotated[window, Depends()]) -> Any:
                return service(ctx, **query.options)

        router.add_api_route(
            path,
            view,
            methods=["GET"],
            response_model=response_model,
            summary=summary,
            name=service.__name__,
        )

    @router.get("/runs", response_model=RunPage, summary="List runs (filter, sort, paginate)")
    def runs(_: Reader, params: Annotated[RunListParams, Depends()]) -> RunPage:
        return runs_service.list_runs(
            ctx,
            params.filters,
            sort=params.sort,
            order=params.order,
            page=params.page,
            per_page=params.per_page,
        )

    @router.get("/runs/{run_id}", response_model=RunDetail, summary="One run with its steps")
    def run(_: Reader, run_id: str) -> RunDetail:
        return runs_service.run_detail(ctx, run_id)

    @router.get("/runs/{run_id}/figures", response_model=FiguresOut, summary="A run's plots")
    def run_figures(_: Reader, run_id: str) -> FiguresOut:
        return runs_service.run_figures(ctx, run_id)

    @router.get("/compare", response_model=CompareOut, summary="Runs side by side")
    def compare(
        _: Reader,
        runs: Annotated[list[str], Query(description="run ids (repeat, or comma-separated)")],
    ) -> CompareOut:
        return runs_service.compare_runs(ctx, runs)

    @router.get("/compare/figures", response_model=FiguresOut, summary="Compared runs' curves")
    def compare_figures(_: Reader, runs: Annotated[list[str], Query()]) -> FiguresOut:
        return runs_service.compare_figures(ctx, runs)

    @router.get("/models", response_model=ModelsOut, summary="Registered models")
    def models(_: Reader) -> ModelsOut:
        return models_service.list_models(ctx)

    @router.get("/models/{name}", response_model=ModelDetail, summary="A model's versions")
    def model(
        _: Reader,
        name: str,
        page: PageNumber = 1,
        per_page: PerPage = 50,
        history: Annotated[int, Query(ge=1, le=1000, description="alias moves shown")] = 100,
    ) -> ModelDetail:
        return models_service.model_detail(ctx, name, page=page, per_page=per_page, history=history)

    @admin_action("/models/{name}/promote", "Make a version the champion (admin)")
    async def promote(caller: Admin, name: str, body: PromoteIn) -> ActionResult:
        return await run_in_threadpool(
            models_service.promote,
            ctx,
            name,
            body.version,
            reason=body.reason,
            force=body.force,
            caller=caller,
        )

    @admin_action("/models/{name}/rollback", "Return to the previous champion (admin)")
    async def rollback(caller: Admin, name: str, body: RollbackIn) -> ActionResult:
        return await run_in_threadpool(
            models_service.rollback, ctx, name, reason=body.reason, caller=caller
        )

    @admin_action("/models/{name}/canary", "Set the canary share every server follows (admin)")
    async def canary(caller: Admin, name: str, body: CanaryIn) -> ActionResult:
        return await run_in_threadpool(
            deploy_service.set_canary, ctx, name, body.traffic, caller=caller
        )

    # Views that only read: a view and its charts take the same window (of time, of a model).
    views: list[tuple[str, type, str, Callable[..., Any], Any]] = [
        ("/traffic", TrafficOut, "Prediction log traffic", models_service.traffic, TrafficWindow),
        ("/traffic/figures", FiguresOut, "Traffic charts", models_service.traffic_figures,
         TrafficWindow),
        ("/deployments", DeploymentsOut, "Running servers", deploy_service.deployments, None),
        ("/monitoring", MonitoringOut, "Monitor runs and alerts", ops_service.monitoring,
         MonitoringWindow),
        ("/monitoring/figures", FiguresOut, "Monitoring charts", ops_service.monitoring_figures,
         MonitoringWindow),
    ]  # fmt: skip
    for path, response_model, summary, service, window in views:
        get_view(path, response_model, summary, service, window)

    @router.get("/datasets", response_model=DatasetPage, summary="Dataset versions")
    def datasets(
        _: Reader, project: OptionalName = None, page: PageNumber = 1, per_page: PerPage = 50
    ) -> DatasetPage:
        return runs_service.dataset_page(ctx, project=project, page=page, per_page=per_page)

    @router.get("/datasets/{ref}", response_model=DatasetDetail, summary="One dataset version")
    def dataset(_: Reader, ref: str, project: OptionalName = None) -> DatasetDetail:
        return runs_service.dataset_detail(ctx, ref, project=project)

    return router
