"""HTTP JSON API sources: pagination, retries with backoff, and loop detection.

Every page is fetched with :mod:`httpx`; ``429`` and ``5xx`` answers and
connection failures are retried with exponential backoff (``backoff_s * 2**n``,
or the server's ``Retry-After``). Paging stops when a page has no records,
when the cursor or next link runs out, or after ``max_pages`` (with a note).
A page that repeats an earlier page's records, cursor or next URL is an error,
since following it would never end.

For ``GET`` the ``params`` and paging parameters go in the query string; for
``POST`` they are sent as the JSON body. Header values (often credentials from
``${env:TOKEN}``) and query values other than the paging ones never appear in
messages.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from conveyor.config.models import PaginationConfig, SourceConfig
from conveyor.data.sources._common import (
    Progress,
    SourceRead,
    no_progress,
    records_at,
    records_to_frame,
    select_columns,
)
from conveyor.errors import ConfigError, DataError

MAX_RETRY_AFTER_S = 120.0
_MASK = "***"


def safe_url(url: httpx.URL | str, keep: Collection[str] = ()) -> str:
    """``url`` without credentials: userinfo dropped, query values masked except ``keep``."""
    u = httpx.URL(str(url))
    if u.userinfo:
        u = u.copy_with(username=None, password=None)
    if u.query:
        masked = [(k, v if k in keep else _MASK) for k, v in u.params.multi_items()]
        u = u.copy_with(params=masked)
        return str(u).replace("%2A%2A%2A", _MASK)
    return str(u)


def dig(document: Any, dotted: str) -> Any:
    """The value at a dotted path, or None when any part is missing."""
    node = document
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


@dataclass
class _Pager:
    """Where the next page is, and what has been seen (to detect loops)."""

    cfg: PaginationConfig
    url: str
    params: dict[str, Any]
    offset: int = 0
    cursor: Any = None
    seen_content: dict[str, int] = field(default_factory=dict)
    seen_cursors: dict[str, int] = field(default_factory=dict)
    seen_urls: dict[str, int] = field(default_factory=dict)

    def request(self, page: int) -> tuple[str, dict[str, Any]]:
        cfg, params = self.cfg, dict(self.params)
        if cfg.type == "page":
            params[cfg.page_param] = cfg.start_page + page - 1
        elif cfg.type == "offset":
            params[cfg.offset_param] = self.offset
            if cfg.page_size:
                params[cfg.limit_param] = cfg.page_size
        elif cfg.type == "cursor" and self.cursor is not None:
            params[cfg.cursor_param] = self.cursor
        if cfg.size_param and cfg.page_size and cfg.type in {"page", "cursor"}:
            params[cfg.size_param] = cfg.page_size
        return self.url, params

    def paging_names(self) -> set[str]:
        c = self.cfg
        return {
            n
            for n in (c.page_param, c.size_param, c.offset_param, c.limit_param, c.cursor_param)
            if n
        }


def read_http_source(
    source: SourceConfig,
    *,
    root: Path,
    progress: Progress = no_progress,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SourceRead:
    """Fetch every page of a JSON API and return the records as one frame."""
    del root  # HTTP sources have no paths
    cfg = source.pagination
    if cfg.type == "cursor" and not cfg.cursor_path:
        raise ConfigError(
            f"source {source.name!r}: pagination type 'cursor' needs 'cursor_path' "
            "(the dotted path of the next cursor in each response)"
        )
    pager = _Pager(cfg, source.url or "", dict(source.params))
    keep = pager.paging_names()
    where = f"source {source.name!r} ({safe_url(source.url or '', keep)})"
    records: list[Any] = []
    notes: list[str] = []
    pages = 0
    with httpx.Client(
        timeout=source.timeout_s, headers=source.headers, follow_redirects=True, transport=transport
    ) as client:
        for page in range(1, cfg.max_pages + 1):
            url, params = pager.request(page)
            response = _fetch(client, source, url, params, keep, sleep)
            shown = safe_url(response.request.url, keep)
            body = _json_body(response, f"source {source.name!r} ({shown})")
            batch = records_at(body, source.records_path, f"source {source.name!r} ({shown})")
            if not batch:
                break
            pages = page
            _check_repeat(pager.seen_content, _digest(batch), page, "the records of page", where)
            records.extend(batch)
            progress(f"{source.name}: page {page}, {len(records)} records", None)
            if not _advance(pager, response, body, batch, page, where, keep):
                break
        else:
            notes.append(
                f"{source.name}: stopped after max_pages={cfg.max_pages}; the API may have more pages"
            )
    frame = records_to_frame(records, where)
    frame = select_columns(frame, source.columns, where) if frame.width else frame
    notes.insert(0, f"{source.name}: {len(records)} records from {pages} page(s)")
    return SourceRead(frame, notes)


def _advance(
    pager: _Pager,
    response: httpx.Response,
    body: Any,
    batch: list[Any],
    page: int,
    where: str,
    keep: set[str],
) -> bool:
    """Move the pager to the next page; False when there is none."""
    cfg = pager.cfg
    if cfg.type == "none":
        return False
    if cfg.type == "offset":
        pager.offset += len(batch)
    elif cfg.type == "cursor":
        nxt = dig(body, cfg.cursor_path or "")
        if nxt is None or nxt == "" or nxt is False:
            return False
        _check_repeat(pager.seen_cursors, str(nxt), page + 1, "cursor", where, shown=repr(nxt))
        pager.cursor = nxt
    elif cfg.type == "next_link":
        link = (
            dig(body, cfg.next_path) if cfg.next_path else response.links.get("next", {}).get("url")
        )
        if not link:
            return False
        nxt = str(response.url.join(str(link)))
        pager.seen_urls.setdefault(str(response.url), page)
        _check_repeat(pager.seen_urls, nxt, page + 1, "next link", where, shown=safe_url(nxt, keep))
        # The next link carries its own query; the configured params only start the walk.
        pager.url, pager.params = nxt, {}
    return True


def _check_repeat(
    seen: dict[str, int], key: str, page: int, what: str, where: str, *, shown: str | None = None
) -> None:
    if key in seen:
        detail = (
            f"{what} {shown} (first seen at page {seen[key]})" if shown else f"{what} {seen[key]}"
        )
        raise DataError(
            f"{where}: pagination loops: page {page} repeats {detail}",
            hint="check the source's 'pagination' settings against the API's documentation "
            "(does the API ignore the page parameter?)",
        )
    seen[key] = page


def _digest(batch: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(batch, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _fetch(
    client: httpx.Client,
    source: SourceConfig,
    url: str,
    params: dict[str, Any],
    keep: set[str],
    sleep: Callable[[float], None],
) -> httpx.Response:
    """One page, retrying 429, 5xx and connection failures with backoff."""
    attempt = 0
    while True:
        response: httpx.Response | None = None
        try:
            if source.method == "POST":
                response = client.post(url, json=params)
            else:
                # httpx's params= replaces a query already in the URL (a next link's,
                # or one written in 'url'); merging keeps both.
                response = client.get(_with_params(url, params, source))
        except httpx.TimeoutException as exc:
            failure, cause = f"timed out after {source.timeout_s:g} s", exc
        except httpx.TransportError as exc:
            failure, cause = f"connection failed ({type(exc).__name__}: {_reason(exc)})", exc
        else:
            status = response.status_code
            if status < 400:
                return response
            shown = safe_url(response.request.url, keep)
            if status != 429 and status < 500:
                raise DataError(
                    f"source {source.name!r}: HTTP {status} {response.reason_phrase} from {shown}: "
                    f"{_snippet(response.text)!r}",
                    hint="check the credentials in 'headers' (their values are not shown)"
                    if status in (401, 403)
                    else "check 'url' and 'params'",
                )
            failure, cause = f"HTTP {status} {response.reason_phrase}", None
        if attempt >= source.max_retries:
            request_url = (
                response.request.url if response is not None else _with_params(url, params, source)
            )
            raise DataError(
                f"source {source.name!r}: {failure} from {safe_url(request_url, keep)} "
                f"after {attempt + 1} attempt(s)",
                hint="the server is failing or unreachable; try later, or raise 'max_retries' / "
                "'timeout_s'",
            ) from cause
        delay = _retry_after(response) if response is not None else None
        sleep(min(delay if delay is not None else source.backoff_s * 2**attempt, MAX_RETRY_AFTER_S))
        attempt += 1


def _with_params(url: str, params: dict[str, Any], source: SourceConfig) -> httpx.URL:
    if source.method == "POST":
        return httpx.URL(url)
    return httpx.URL(url).copy_merge_params({k: _param(v) for k, v in params.items()})


def _param(value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no reason given"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _snippet(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _json_body(response: httpx.Response, where: str) -> Any:
    ctype = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        if "json" in ctype:
            raise DataError(
                f"{where}: the response is not valid JSON: {exc.msg} at line {exc.lineno}"
            ) from exc
        raise DataError(
            f"{where}: expected JSON, got {ctype}: {_snippet(response.text)!r}",
            hint="check 'url' (an HTML page usually means a login page or a wrong path)",
        ) from exc
