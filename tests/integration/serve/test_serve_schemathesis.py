"""Schemathesis over the live server's ``/openapi.json``: no request may produce a 500.

Every operation the live schema lists (read at run time, so new endpoints are
covered without editing this file) gets a bounded, derandomized run: 50
schema-valid requests, and 50 schema-violating ones where the operation takes
input. The server is a real uvicorn subprocess over a private copy of the
project, since admin operations move aliases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

Server = Any  # conftest.Server: a started server with .url, .log, .stop()

EXPECTED = {"POST /v1/predict", "POST /v1/feedback", "GET /v1/models", "GET /health", "GET /ready"}
EXAMPLES = 50


def fuzz(operation: Any, mode: GenerationMode, server: Server) -> list[int]:
    """Statuses of up to ``EXAMPLES`` generated calls; raises on the first 500 (with the server log)."""
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        try:
            response = case.call_and_validate(checks=[not_a_server_error], timeout=10)
        except Exception as exc:
            # The request alone does not explain a 500: the server's traceback does.
            log = server.log.read_text(errors="replace")[-4000:]
            raise AssertionError(
                f"{operation.label} ({mode.value}): {exc}\n--- server log (tail) ---\n{log}"
            ) from exc
        statuses.append(response.status_code)

    run()
    return statuses


def test_no_operation_answers_500(project_copy: Path, start_server: Any) -> None:
    server = start_server(project_copy)
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert labels >= EXPECTED, labels
    seen: dict[str, set[int]] = {}
    for operation in operations:
        statuses = fuzz(operation, GenerationMode.POSITIVE, server)
        assert statuses, f"no request was sent for {operation.label}"
        try:
            statuses += fuzz(operation, GenerationMode.NEGATIVE, server)
        except Unsatisfiable:
            pass  # nothing to violate: the operation takes no input
        seen[operation.label] = set(statuses)
    assert 500 not in set().union(*seen.values())
    # The fuzzing reached the model, not only the error paths.
    assert 200 in seen["POST /v1/predict"] and 422 in seen["POST /v1/predict"]
