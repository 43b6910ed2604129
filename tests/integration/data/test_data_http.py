"""HTTP JSON API sources against a real local HTTP server (see conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conveyor.config.models import SourceConfig
from conveyor.data.sources import collect, read_source
from conveyor.errors import DataError

ROOT = Path(".")
FAST = {"backoff_s": 0.01, "max_retries": 3, "timeout_s": 5}


def http(url: str, **options: Any) -> SourceConfig:
    return SourceConfig.model_validate(
        {"name": "api", "type": "http", "url": url, **FAST, **options}
    )


def ids(source: SourceConfig) -> list[int]:
    return read_source(source, root=ROOT)["id"].to_list()


def error(source: SourceConfig) -> str:
    with pytest.raises(DataError) as info:
        read_source(source, root=ROOT)
    return str(info.value)


ALL_IDS = list(range(25))  # the ids of the server's 25 records (conftest.RECORDS)


# ---------------------------------------------------------------- pagination styles


def test_page_number_pagination_with_records_path(api: Any) -> None:
    src = http(
        api.url("/page"),
        records_path="data.items",
        pagination={"type": "page", "size_param": "per_page", "page_size": 10},
    )
    frame = read_source(src, root=ROOT)
    assert frame["id"].to_list() == ALL_IDS
    # nested objects become parent.child columns
    assert frame.columns == ["id", "name", "score", "meta.group"]
    assert frame["meta.group"].to_list() == [i % 3 for i in ALL_IDS]


def test_offset_limit_pagination(api: Any) -> None:
    src = http(
        api.url("/offset"), records_path="results", pagination={"type": "offset", "page_size": 7}
    )
    assert ids(src) == ALL_IDS


def test_cursor_pagination(api: Any) -> None:
    src = http(
        api.url("/cursor"),
        records_path="items",
        pagination={"type": "cursor", "cursor_path": "meta.next"},
    )
    assert ids(src) == ALL_IDS


def test_link_header_pagination(api: Any) -> None:
    src = http(api.url("/link"), pagination={"type": "next_link"})
    assert ids(src) == ALL_IDS


def test_next_link_in_body(api: Any) -> None:
    src = http(
        api.url("/next-body"),
        records_path="records",
        pagination={"type": "next_link", "next_path": "links.next"},
    )
    assert ids(src) == ALL_IDS


def test_post_sends_params_as_json_body(api: Any) -> None:
    src = http(
        api.url("/search"),
        method="POST",
        params={"filter": "all"},
        records_path="items",
        pagination={"type": "page", "size_param": "per_page", "page_size": 10},
    )
    assert ids(src) == ALL_IDS


def test_max_pages_stops_with_a_note(api: Any) -> None:
    src = http(
        api.url("/page"),
        records_path="data.items",
        pagination={"type": "page", "size_param": "per_page", "page_size": 10, "max_pages": 2},
    )
    result = collect([src], root=ROOT)
    assert result.frame["id"].to_list() == ALL_IDS[:20]
    assert result.per_source == {"api": 20}
    assert any("stopped after max_pages=2" in n for n in result.notes)


def test_columns_and_single_page(api: Any) -> None:
    src = http(api.url("/flaky/columns"), records_path="items", columns=["name"], max_retries=5)
    assert read_source(src, root=ROOT).columns == ["name"]


def test_empty_first_page_gives_empty_frame_and_collect_fails(api: Any) -> None:
    src = http(api.url("/empty"), records_path="items", pagination={"type": "page"})
    assert read_source(src, root=ROOT).height == 0
    with pytest.raises(DataError, match=r"no source returned any rows \(api: 0\)"):
        collect([src], root=ROOT)


def test_headers_are_sent_but_never_shown(api: Any) -> None:
    assert ids(
        http(
            api.url("/auth"), records_path="items", headers={"Authorization": f"Bearer {api.token}"}
        )
    ) == [
        0,
        1,
        2,
        3,
    ]
    msg = error(
        http(api.url("/auth"), records_path="items", headers={"Authorization": "Bearer wrong-one"})
    )
    assert "HTTP 401 Unauthorized" in msg and "credentials in 'headers'" in msg
    assert "wrong-one" not in msg


# ---------------------------------------------------------------- retries


def test_server_error_after_retries_names_url_and_status(api: Any) -> None:
    before = api.hits["always-500/x"]
    msg = error(
        http(api.url("/always-500/x"), params={"api_key": "k-12345", "page": 1}, max_retries=2)
    )
    assert api.hits["always-500/x"] - before == 3
    assert "HTTP 500 Internal Server Error from" in msg and "after 3 attempt(s)" in msg
    assert "/always-500/x?api_key=***&page=1" in msg
    assert "k-12345" not in msg


def test_transient_5xx_is_retried(api: Any) -> None:
    assert ids(http(api.url("/flaky/retry"), records_path="items")) == [0, 1, 2, 3, 4]
    assert api.hits["flaky/retry"] == 3


def test_429_honours_retry_after(api: Any) -> None:
    # backoff_s is large: only Retry-After: 0 lets this finish quickly
    src = http(api.url("/rate/a"), records_path="items", backoff_s=30)
    assert ids(src) == [0, 1, 2]
    assert api.hits["rate/a"] == 2


def test_connection_refused_is_retried_then_reported() -> None:
    msg = error(http("http://127.0.0.1:1/items?token=abc123", max_retries=1))
    assert "connection failed (ConnectError" in msg and "after 2 attempt(s)" in msg
    assert "abc123" not in msg


def test_timeout(api: Any) -> None:
    msg = error(http(api.url("/slow"), timeout_s=0.2, max_retries=0))
    assert "timed out after 0.2 s" in msg and "/slow" in msg


# ---------------------------------------------------------------- bad answers


def test_html_instead_of_json(api: Any) -> None:
    msg = error(http(api.url("/html")))
    assert (
        "expected JSON, got text/html: '<!doctype html><html><body>Please log in</body></html>'"
        in msg
    )


def test_html_snippet_is_truncated() -> None:
    from conveyor.data.sources._http import _snippet

    assert _snippet("<!doctype html>" + "x" * 100, limit=15) == "<!doctype html>..."


def test_invalid_json_with_json_content_type(api: Any) -> None:
    assert "the response is not valid JSON" in error(http(api.url("/bad-json")))


def test_records_path_missing_lists_keys(api: Any) -> None:
    msg = error(http(api.url("/page"), records_path="data.records"))
    assert (
        "records_path 'data.records': no key 'records' at data; keys found: 'items', 'page'" in msg
    )


def test_not_found_is_not_retried(api: Any) -> None:
    msg = error(http(api.url("/nowhere")))
    assert "HTTP 404 Not Found" in msg and api.hits["nowhere/"] == 1


# ---------------------------------------------------------------- loops


def test_looping_next_link(api: Any) -> None:
    src = http(
        api.url("/loop-next/a"),
        records_path="records",
        pagination={"type": "next_link", "next_path": "next"},
    )
    msg = error(src)
    assert "pagination loops: page 2 repeats next link" in msg
    assert "/loop-next/a (first seen at page 1)" in msg


def test_looping_cursor(api: Any) -> None:
    src = http(
        api.url("/loop-cursor/a"),
        records_path="items",
        pagination={"type": "cursor", "cursor_path": "cursor"},
    )
    assert "pagination loops: page 3 repeats cursor 'abc' (first seen at page 2)" in error(src)


def test_page_parameter_ignored_by_server(api: Any) -> None:
    src = http(api.url("/ignore-page"), records_path="items", pagination={"type": "page"})
    assert "pagination loops: page 2 repeats the records of page 1" in error(src)


def test_cursor_pagination_needs_cursor_path(api: Any) -> None:
    """Caught when the config is read, before any request is sent."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs 'cursor_path'"):
        http(api.url("/cursor"), pagination={"type": "cursor"})
