"""Shared pieces of the HTTP handlers: error answers, JSON bodies, auth, the app's context."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from conveyor.serve.auth import ApiKey, KeyRing, is_loopback

if TYPE_CHECKING:
    from conveyor.config.models import ServeConfig
    from conveyor.project import Project
    from conveyor.serve.fallback import FallbackPolicy
    from conveyor.serve.metrics import ServeMetrics
    from conveyor.serve.model_holder import ModelHolder
    from conveyor.serve.routing import CanaryRouter

__all__ = [
    "HTTPProblem",
    "ServeContext",
    "actor_of",
    "authorize",
    "json_response",
    "problem_response",
    "read_json",
]


class HTTPProblem(Exception):
    """An error answer: status code, headline, and optional per-field errors."""

    def __init__(
        self, status: int, detail: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


@dataclass
class ServeContext:
    """Everything a handler needs: the project, options, model holder, metrics and log."""

    project: Project
    cfg: ServeConfig
    holder: ModelHolder
    metrics: ServeMetrics
    keys: KeyRing
    fallback: FallbackPolicy
    router: CanaryRouter | None
    state: dict[str, Any] = field(default_factory=lambda: {"log": None})


def json_response(data: Any, status: int = 200, **kwargs: Any) -> Response:
    """``data`` as a JSON response (orjson)."""
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", **kwargs)


def problem_response(exc: HTTPProblem) -> Response:
    """``{"detail": ..., "errors": [...]}`` with the problem's status."""
    body: dict[str, Any] = {"detail": exc.detail}
    if exc.errors is not None:
        body["errors"] = exc.errors
    return json_response(body, exc.status)


def authorize(request: Request, keys: KeyRing, scope: str) -> ApiKey | None:
    """The key a request authenticates with, if it holds ``scope``.

    With no keys configured every scope is open, except ``admin``, which is
    then only reachable from a loopback client.

    Raises:
        HTTPProblem: 401 (no or unknown key), 403 (key lacks the scope, or an
            admin call from a non-loopback client with no keys configured).
    """
    if not keys.enabled:
        host = request.client.host if request.client else ""
        if scope == "admin" and not is_loopback(host):
            raise HTTPProblem(
                403, "admin endpoints without API keys are only reachable from loopback"
            )
        return None
    header = request.headers.get("authorization", "")
    secret = header[7:].strip() if header[:7].lower() == "bearer " else None
    secret = secret or request.headers.get("x-api-key")
    key = keys.authenticate(secret)
    if key is None:
        raise HTTPProblem(401, "missing or invalid API key (send 'Authorization: Bearer <key>')")
    if scope not in key.scopes:
        raise HTTPProblem(403, f"API key {key.name!r} lacks the {scope!r} scope")
    return key


def actor_of(key: ApiKey | None) -> str:
    """How registry history records an API caller: ``api:<key name>`` (``api:local`` unkeyed)."""
    return f"api:{key.name if key is not None else 'local'}"


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, at most ``limit`` bytes.

    Raises:
        HTTPProblem: 415 (not JSON), 413 (too large), 400 (empty or malformed).
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not (
        ctype.startswith("application/") and ctype.endswith("+json")
    ):
        raise HTTPProblem(415, f"expected Content-Type application/json, got {ctype or 'none'!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(
            413,
            f"request body of {declared} bytes is over the limit of {limit} bytes (serve.max_body_bytes)",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(
                413, f"request body is over the limit of {limit} bytes (serve.max_body_bytes)"
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise HTTPProblem(400, "empty request body: send a JSON object or a list of objects")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # NaN/Infinity are not JSON, but clients send them: parse leniently so that
        # validation can name the field instead of failing the whole body.
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise HTTPProblem(400, f"request body is not valid JSON: {exc}") from None
