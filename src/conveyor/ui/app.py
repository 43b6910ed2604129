"""The dashboard app: pages, the ``/api/`` JSON API, static files and the bundled plotly.js.

Example:
    >>> from conveyor import Project
    >>> from conveyor.ui.app import create_ui_app
    >>> app = create_ui_app(Project("examples/churn"))  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from conveyor.errors import ConveyorError, ModelError, NotFound, StoreError
from conveyor.serve.auth import KeyRing, is_loopback
from conveyor.ui._auth import UiAccess, check_ui_bind
from conveyor.ui._context import InvalidRequest, UiContext
from conveyor.ui.api import build_api
from conveyor.ui.pages import build_pages, templates

if TYPE_CHECKING:
    from conveyor.project import Project

__all__ = [
    "HOST_ENV",
    "INSECURE_ENV",
    "PLOTLY_ROUTE",
    "PROJECT_ENV",
    "app_from_env",
    "create_ui_app",
    "plotly_js_path",
]

PLOTLY_ROUTE = "/vendor/plotly.min.js"
PROJECT_ENV = "CONVEYOR_UI_PROJECT"
HOST_ENV = "CONVEYOR_UI_HOST"
INSECURE_ENV = "CONVEYOR_UI_INSECURE"
_STATIC = Path(__file__).parent / "static"
# Plotly's heat maps draw on a canvas and its WebGL traces compile code at run
# time; nothing else is loaded from anywhere but this server.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` shipped inside the installed ``plotly`` package (no CDN)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("the plotly package is not installed", hint="pip install plotly")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise StoreError(f"plotly.min.js is missing from the plotly package ({path})")
    return path


class _PlotlyScript:
    """plotly.min.js read once, served gzipped to clients that accept it, cached for a day."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plain: bytes | None = None
        self._gzipped: bytes | None = None

    def response(self, request: Request) -> Response:
        with self._lock:
            if self._plain is None:
                self._plain = plotly_js_path().read_bytes()
                self._gzipped = gzip.compress(self._plain, compresslevel=6, mtime=0)
        headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", "") and self._gzipped is not None:
            headers["Content-Encoding"] = "gzip"
            body = self._gzipped
        else:
            body = self._plain
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def create_ui_app(
    project: Project,
    *,
    host: str = "127.0.0.1",
    insecure: bool = False,
    api_keys: Mapping[str, str] | None = None,
) -> FastAPI:
    """The dashboard of ``project`` as an ASGI app.

    Args:
        project: the open project whose stores the dashboard reads.
        host: the address the app will be bound to; reads need a key when it is
            not loopback and keys are configured.
        insecure: allow a non-loopback ``host`` without any key.
        api_keys: ``{name: "key:scope1+scope2"}``; default: parsed from
            ``CONVEYOR_API_KEYS`` (the serving keys).

    Raises:
        ConfigError: ``host`` is not loopback, no key is configured and
            ``insecure`` is False; or the keys are malformed.
    """
    keys = KeyRing.from_env(os.environ) if api_keys is None else KeyRing.from_mapping(api_keys)
    check_ui_bind(host, keys.enabled, insecure)
    ctx = UiContext(project=project, access=UiAccess(keys=keys, bound_loopback=is_loopback(host)))
    app = FastAPI(
        title="Conveyor dashboard API",
        version="1",
        description="The JSON API behind `conveyor ui`: runs, comparison, models, deployments, "
        "monitoring and data. Lists are filtered, sorted and paginated in the database.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads its scripts from a CDN: /api lists the routes instead
        redoc_url=None,
    )
    app.state.ui = ctx
    _install_errors(app, ctx)
    app.include_router(build_api(ctx))
    app.include_router(build_pages(ctx))
    plotly_script = _PlotlyScript()

    @app.get(PLOTLY_ROUTE, include_in_schema=False)
    def plotly_js(request: Request) -> Response:
        return plotly_script.response(request)

    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory``: the project, host and ``--insecure`` from the env.

    ``conveyor ui`` starts uvicorn with this factory (as ``conveyor serve`` does
    for several workers), so the CLI module never imports the web stack.
    """
    from conveyor.project import Project

    return create_ui_app(
        Project(os.environ.get(PROJECT_ENV, ".")),
        host=os.environ.get(HOST_ENV, "127.0.0.1"),
        insecure=os.environ.get(INSECURE_ENV) == "1",
    )


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where = {"query": "query parameter", "path": "path parameter", "body": "body field"}.get(
            loc[0] if loc else "", "parameter"
        )
        name = ".".join(loc[1:]) or "body"
        parts.append(f"{where} {name!r}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _install_errors(app: FastAPI, ctx: UiContext) -> None:
    views = templates()

    def answer(request: Request, status: int, detail: str) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": detail}, status_code=status)
        if status == 401 and request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        heading = {404: "Not found", 401: "Sign in needed", 403: "Not allowed"}.get(
            status, "Cannot show this page"
        )
        return views.TemplateResponse(
            request,
            "error.html",
            {
                "access": ctx.access,
                "caller": None,
                "project_name": ctx.project.config.project,
                "store_url": ctx.project.metadata.url,
                "charts": False,
                "section": "",
                "status_code": status,
                "heading": heading,
                "detail": detail,
            },
            status_code=status,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, 422, _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return answer(request, exc.status_code, str(exc.detail))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return answer(request, 404, exc.message)

    @app.exception_handler(ModelError)
    async def refused(request: Request, exc: ModelError) -> Response:
        return answer(request, 409, exc.message)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return answer(request, 503, exc.message)

    @app.exception_handler(ConveyorError)
    async def conveyor_error(request: Request, exc: ConveyorError) -> Response:
        return answer(request, 400, exc.message)

    @app.exception_handler(InvalidRequest)
    async def bad_request(request: Request, exc: InvalidRequest) -> Response:
        return answer(request, 422, str(exc))
