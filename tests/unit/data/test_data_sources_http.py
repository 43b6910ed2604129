"""HTTP reader internals with httpx.MockTransport: backoff timing, Retry-After, URL masking."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conveyor.config.models import SourceConfig
from conveyor.data.sources._http import dig, read_http_source, safe_url
from conveyor.errors import DataError


def source(**options: object) -> SourceConfig:
    return SourceConfig.model_validate(
        {"name": "api", "type": "http", "url": "https://api.test/v1/items", **options}
    )


def failing_then_ok(failures: list[httpx.Response]) -> httpx.MockTransport:
    queue = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        if queue:
            return queue.pop(0)
        return httpx.Response(200, json=[{"id": 1}])

    return httpx.MockTransport(handler)


def test_exponential_backoff_then_success() -> None:
    sleeps: list[float] = []
    transport = failing_then_ok([httpx.Response(503), httpx.Response(502), httpx.Response(500)])
    got = read_http_source(
        source(backoff_s=0.5, max_retries=3),
        root=Path("."),
        transport=transport,
        sleep=sleeps.append,
    )
    assert got.frame.rows() == [(1,)]
    assert sleeps == [0.5, 1.0, 2.0]


def test_retry_after_seconds_and_date_are_honoured_and_capped() -> None:
    sleeps: list[float] = []
    soon = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    transport = failing_then_ok(
        [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(503, headers={"Retry-After": soon}),
            httpx.Response(429, headers={"Retry-After": "86400"}),
        ]
    )
    read_http_source(
        source(max_retries=3), root=Path("."), transport=transport, sleep=sleeps.append
    )
    assert sleeps[0] == 7.0
    assert 25 < sleeps[1] <= 30
    assert sleeps[2] == 120.0  # a day-long Retry-After is capped


def test_retries_exhausted_counts_attempts() -> None:
    transport = failing_then_ok([httpx.Response(500)] * 5)
    with pytest.raises(
        DataError, match=r"HTTP 500 Internal Server Error from .* after 3 attempt\(s\)"
    ):
        read_http_source(
            source(max_retries=2), root=Path("."), transport=transport, sleep=lambda _s: None
        )


def test_connection_errors_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=[{"id": 2}])

    got = read_http_source(
        source(), root=Path("."), transport=httpx.MockTransport(handler), sleep=lambda _s: None
    )
    assert got.frame.rows() == [(2,)] and calls == 2


def test_query_in_url_is_kept_alongside_params() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=[{"id": 1}])

    read_http_source(
        source(url="https://api.test/v1/items?fmt=json", params={"active": True}),
        root=Path("."),
        transport=httpx.MockTransport(handler),
    )
    assert seen == ["https://api.test/v1/items?fmt=json&active=true"]


def test_safe_url_masks_credentials_and_non_paging_values() -> None:
    url = "https://user:pw@api.test/x?api_key=SECRET&page=3&sig=abc"
    shown = safe_url(url, {"page"})
    assert shown == "https://api.test/x?api_key=***&page=3&sig=***"
    assert safe_url("https://api.test/x") == "https://api.test/x"


def test_dig() -> None:
    doc = {"a": {"b": [{"c": 1}]}}
    assert dig(doc, "a.b.0.c") == 1
    assert dig(doc, "a.x") is None
    assert dig(doc, "a.b.5") is None
