"""The HTML pages: server-rendered tables from the same services as the JSON API.

Tables are rendered on the server (sorting, filtering and paging are query
parameters handled in SQL); charts and actions call ``/api/`` from
``static/ui.js``. FastAPI reads route annotations at run time, so this module
does not use postponed annotations.
"""

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from conveyor.stores import RUN_STATUSES
from conveyor.ui import _service_deploy as deploy_service
from conveyor.ui import _service_models as models_service
from conveyor.ui import _service_ops as ops_service
from conveyor.ui import _service_runs as runs_service
from conveyor.ui._auth import SESSION_COOKIE, SESSION_SECONDS, Caller
from conveyor.ui._context import InvalidRequest, UiContext
from conveyor.ui.api import RunListParams

__all__ = ["build_pages", "templates"]

_MAX_FORM_BYTES = 4096
_RUN_COLUMNS = [
    ("id", "run"),
    ("status", "status"),
    ("model", "model"),
    ("metric", "primary metric"),
    ("dataset", "dataset"),
    ("duration", "duration"),
    ("started", "started"),
]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _when(ts: datetime | None) -> str:
    if ts is None:
        return "–"
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _percent(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value * 100:.1f} %"


def templates() -> Jinja2Templates:
    """The page templates with the dashboard's filters."""
    env = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    env.env.filters.update(duration=_duration, when=_when, percent=_percent)
    return env


def build_pages(ctx: UiContext) -> APIRouter:
    """The HTML routes over ``ctx``."""
    views = templates()
    router = APIRouter(include_in_schema=False)
    project_name = ctx.project.config.project

    def viewer(request: Request) -> Caller:
        return ctx.access.reader(request)

    Viewer = Annotated[Caller, Depends(viewer)]

    def render(request: Request, name: str, caller: Caller, **values: Any) -> HTMLResponse:
        values.setdefault("charts", False)
        return views.TemplateResponse(
            request,
            name,
            {
                "access": ctx.access,
                "caller": caller,
                "project_name": project_name,
                "store_url": ctx.project.metadata.url,
                **values,
            },
        )

    @router.get("/")
    def home() -> Response:
        return RedirectResponse("/runs", status_code=302)

    @router.get("/runs")
    def runs_page(
        request: Request, caller: Viewer, params: Annotated[RunListParams, Depends()]
    ) -> Response:
        data = runs_service.list_runs(
            ctx,
            params.filters,
            sort=params.sort,
            order=params.order,
            page=params.page,
            per_page=params.per_page,
        )
        choices = ops_service.run_filter_choices(ctx)

        def link(**changes: Any) -> str:
            return "/runs?" + urlencode(params.query(**changes))

        return render(
            request,
            "runs.html",
            caller,
            section="Runs",
            data=data,
            params=params,
            link=link,
            columns=_RUN_COLUMNS,
            statuses=sorted(RUN_STATUSES),
            kinds=choices["kinds"],
            models=choices["models"],
        )

    @router.get("/runs/{run_id}")
    def run_page(request: Request, caller: Viewer, run_id: str) -> Response:
        detail = runs_service.run_detail(ctx, run_id)
        return render(request, "run.html", caller, section="Runs", d=detail, charts=True)

    @router.get("/compare")
    def compare_page(
        request: Request,
        caller: Viewer,
        runs: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        given = ",".join(runs or [])
        ids = [i for i in given.split(",") if i.strip()]
        if len(ids) < 2:
            problem = "pick at least two runs" if ids else None
            return render(
                request, "compare.html", caller, section="Compare", data=None, given=given,
                problem=problem,
            )  # fmt: skip
        try:
            data = runs_service.compare_runs(ctx, ids)
        except InvalidRequest as exc:
            return render(
                request, "compare.html", caller, section="Compare", data=None, given=given,
                problem=str(exc),
            )  # fmt: skip
        url = "/api/compare/figures?" + urlencode([("runs", r.id) for r in data.runs])
        return render(
            request, "compare.html", caller, section="Compare", data=data, figures_url=url,
            charts=True,
        )  # fmt: skip

    @router.get("/models")
    def models_page(request: Request, caller: Viewer) -> Response:
        data = models_service.list_models(ctx)
        return render(request, "models.html", caller, section="Models", data=data)

    @router.get("/models/{name}")
    def model_page(
        request: Request,
        caller: Viewer,
        name: str,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Response:
        detail = models_service.model_detail(ctx, name, page=page, per_page=per_page)
        pages = max(1, math.ceil(detail.total_versions / per_page))

        def link(**changes: Any) -> str:
            return f"/models/{name}?" + urlencode({"page": page, "per_page": per_page, **changes})

        canary = deploy_service.canary_state(ctx, name)
        return render(
            request, "model.html", caller, section="Models", d=detail, pages=pages, link=link,
            canary=canary,
        )  # fmt: skip

    @router.get("/deployments")
    def deployments_page(
        request: Request, caller: Viewer, hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24
    ) -> Response:
        servers = deploy_service.deployments(ctx)
        traffic = models_service.traffic(ctx, hours=hours, model=None)
        return render(
            request, "deployments.html", caller, section="Deployments", servers=servers,
            traffic=traffic, charts=bool(traffic.total),
        )  # fmt: skip

    @router.get("/monitoring")
    def monitoring_page(
        request: Request,
        caller: Viewer,
        model: Annotated[str | None, Query(max_length=200)] = None,
        days: Annotated[int, Query(ge=1, le=365)] = 30,
    ) -> Response:
        data = ops_service.monitoring(ctx, model=model or None, days=days)
        query = urlencode({"model": data.model or "", "days": days})
        return render(
            request, "monitoring.html", caller, section="Monitoring", data=data, days=days,
            figures_url=f"/api/monitoring/figures?{query}", charts=bool(data.runs),
        )  # fmt: skip

    @router.get("/data")
    def datasets_page(
        request: Request,
        caller: Viewer,
        project: Annotated[str | None, Query(max_length=200)] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Response:
        data = runs_service.dataset_page(ctx, project=project, page=page, per_page=per_page)

        def link(**changes: Any) -> str:
            values = {"project": project, "page": page, "per_page": per_page, **changes}
            return "/data?" + urlencode({k: v for k, v in values.items() if v is not None})

        return render(request, "datasets.html", caller, section="Data", data=data, link=link)

    @router.get("/data/{ref}")
    def dataset_page(
        request: Request,
        caller: Viewer,
        ref: str,
        project: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        detail = runs_service.dataset_detail(ctx, ref, project=project)
        return render(request, "dataset.html", caller, section="Data", d=detail)

    @router.get("/login")
    def login_form(request: Request, next: str = "/runs") -> Response:
        return render(
            request, "login.html", ctx.access.identify(request), section="", next=_safe_next(next),
            problem=None,
        )  # fmt: skip

    @router.post("/login")
    async def login(request: Request) -> Response:
        # A plain urlencoded form, parsed here: no multipart parser is needed for two fields.
        raw = await request.body()
        if len(raw) > _MAX_FORM_BYTES:
            raise HTTPException(413, f"sign-in form over {_MAX_FORM_BYTES} bytes")
        fields = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10)
        key = (fields.get("key") or [""])[0]
        next = (fields.get("next") or ["/runs"])[0]
        if not ctx.access.auth_on:
            raise HTTPException(409, "no API keys are configured: there is nothing to sign in to")
        result = ctx.access.login(key)
        if result is None:
            response = render(
                request, "login.html", None, section="", next=_safe_next(next),
                problem="unknown API key",
            )  # fmt: skip
            response.status_code = 401
            return response
        _, cookie = result
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/runs", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @router.get("/api")
    def api_page(request: Request, caller: Viewer) -> Response:
        endpoints = []
        for path, item in request.app.openapi().get("paths", {}).items():
            for method, op in item.items():
                names = [p["name"] for p in op.get("parameters", [])]
                if "requestBody" in op:
                    names.append("JSON body")
                endpoints.append(
                    {"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                     "params": names}
                )  # fmt: skip
        return render(request, "api.html", caller, section="", endpoints=endpoints)

    return router


def _safe_next(target: str) -> str:
    """Only same-site paths (``/runs``), never ``//host`` or ``https://…``: no open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/runs"
    return target
