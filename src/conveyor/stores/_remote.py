"""Opening fsspec filesystems for the stores, and explaining why an object store failed.

Object stores fail in ways a local disk does not: the endpoint does not
answer, no credentials are configured, the bucket does not exist, the
credentials are refused. Each becomes a :class:`~conveyor.errors.StoreError`
whose first line names the store URL and the endpoint (never a credential),
so that a failed run records a reason someone can act on.

The botocore / aiohttp exception classes are recognised by name, so this
module needs neither installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from conveyor.errors import StoreError

__all__ = [
    "OBJECT_STORE_PROTOCOLS",
    "RemoteErrors",
    "is_object_store",
    "open_filesystem",
    "polars_storage_options",
]

# Object stores publish an upload atomically but cannot rename cheaply.
OBJECT_STORE_PROTOCOLS = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2"}
)
_PACKAGES = {"s3": "s3fs (pip install 'conveyor[s3]')", "s3a": "s3fs (pip install 'conveyor[s3]')"}
_USERINFO = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)

_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ReadTimeoutError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ConnectionError",
    "TimeoutError",
}
_REFUSED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")


def _scheme(url: str) -> str:
    return url.split("::", 1)[0].split("://", 1)[0].lower() if "://" in url else ""


def safe_url(url: str) -> str:
    """``url`` without any ``user:password@`` part (safe to show)."""
    return _USERINFO.sub(lambda m: m["head"], url)


def open_filesystem(
    url: str, storage_options: Mapping[str, Any] | None = None, *, what: str
) -> tuple[Any, str]:
    """The fsspec filesystem and root path of ``url``; nothing is contacted yet.

    Object stores get ``use_listings_cache=False`` unless told otherwise: a
    cached listing would hide what another process wrote a moment ago.

    Args:
        url: e.g. ``s3://bucket/prefix``.
        storage_options: passed to the filesystem (credentials, ``endpoint_url``…).
        what: what is being opened, for messages (``"artifact store"``).

    Example:
        >>> fs, root = open_filesystem("memory://x/y", what="artifact store")
        >>> root
        '/x/y'
    """
    import fsspec

    options = dict(storage_options or {})
    if _scheme(url) in OBJECT_STORE_PROTOCOLS:
        options.setdefault("use_listings_cache", False)
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        package = _PACKAGES.get(_scheme(url), "the fsspec implementation for this protocol")
        raise StoreError(
            f"{what} {safe_url(url)}: cannot open {_scheme(url)}:// URLs: {exc}",
            hint=f"install {package}",
        ) from exc
    except ValueError as exc:
        if "protocol not known" in str(exc).lower():
            raise StoreError(
                f"{what} {safe_url(url)}: no filesystem is known for {_scheme(url)}:// URLs",
                hint="use a path, file://, s3://, gs://, az:// or memory://, or install "
                "the fsspec package that implements this protocol",
            ) from exc
        raise StoreError(
            f"{what} {safe_url(url)}: cannot open it: {exc}",
            hint="check the URL and stores.storage_options",
        ) from exc
    except TypeError as exc:
        raise StoreError(
            f"{what} {safe_url(url)}: cannot open it: {exc}",
            hint="check the URL and stores.storage_options",
        ) from exc
    return fs, str(root).rstrip("/")


def protocols_of(fs: Any) -> tuple[str, ...]:
    return fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)


def is_object_store(fs: Any) -> bool:
    """Whether ``fs`` is an object store (atomic uploads, no cheap rename)."""
    return bool(OBJECT_STORE_PROTOCOLS.intersection(protocols_of(fs)))


def endpoint_of(fs: Any) -> str | None:
    """The endpoint an S3-compatible filesystem talks to, when one was configured."""
    endpoint = getattr(fs, "endpoint_url", None)
    if not endpoint:
        endpoint = (getattr(fs, "client_kwargs", None) or {}).get("endpoint_url")
    return str(endpoint) if endpoint else None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for link in _chain(exc) for cls in type(link).__mro__}


class RemoteErrors:
    """Turns a filesystem's failures into StoreErrors that name the store and its endpoint.

    Args:
        what: ``"artifact store"`` or ``"prediction log"``.
        url: the store's URL as configured.
        fs: its fsspec filesystem.

    Example:
        >>> errors = RemoteErrors("artifact store", "memory://x", None)
        >>> print(errors.translate(OSError("disk full"), "writing sha256/ab/cd").headline)
        artifact store memory://x: writing sha256/ab/cd failed: OSError: disk full
    """

    def __init__(self, what: str, url: str, fs: Any) -> None:
        self.what = what
        self.url = safe_url(url)
        self.endpoint = endpoint_of(fs) if fs is not None else None
        self.bucket = urlsplit(url).netloc.rsplit("@", 1)[-1] if "://" in url else ""
        self.object_store = fs is not None and is_object_store(fs)

    @property
    def where(self) -> str:
        """The store, with its endpoint when one is configured."""
        if self.endpoint:
            return f"{self.what} {self.url} (endpoint {self.endpoint})"
        return f"{self.what} {self.url}"

    def is_missing_bucket(self, exc: BaseException) -> bool:
        text = " ".join(str(link) for link in _chain(exc))
        return self.object_store and (
            "NoSuchBucket" in _names(exc)
            or "NoSuchBucket" in text
            or "bucket does not exist" in text.lower()
        )

    def translate(self, exc: BaseException, action: str) -> StoreError:
        """The StoreError for ``exc``, raised while ``action`` (e.g. "writing <key>")."""
        if isinstance(exc, StoreError):
            return exc
        names = _names(exc)
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if names & _NO_CREDENTIALS:
            return StoreError(
                f"{self.where}: no credentials found while {action}",
                hint="set stores.storage_options key and secret (e.g. "
                "key: ${env:AWS_ACCESS_KEY_ID}) or the AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY environment variables",
            )
        if self.is_missing_bucket(exc):
            return StoreError(
                f"{self.where}: bucket {self.bucket!r} does not exist ({action})",
                hint=f"create the bucket {self.bucket!r} or fix the URL in conveyor.yaml (stores)",
            )
        if names & _UNREACHABLE:
            address = self.endpoint or f"the {_scheme(self.url) or 'storage'} service"
            return StoreError(
                f"{self.where}: cannot reach {address} while {action}: {detail}",
                hint="check that the object store is running and that "
                "stores.storage_options.endpoint_url is right",
            )
        text = " ".join(str(link) for link in _chain(exc))
        if isinstance(exc, PermissionError) or any(code in text for code in _REFUSED):
            return StoreError(
                f"{self.where}: access denied while {action}: {detail}",
                hint="check the credentials in stores.storage_options and the bucket's policy",
            )
        return StoreError(f"{self.where}: {action} failed: {detail}")


def polars_storage_options(fs: Any, storage_options: Mapping[str, Any]) -> dict[str, str] | None:
    """The fsspec/s3fs ``storage_options`` in the vocabulary of Polars' own S3 reader.

    Returns None for filesystems Polars does not read natively here (the
    caller then reads the bytes through fsspec instead).

    Example:
        >>> import fsspec
        >>> fs = fsspec.filesystem("memory")
        >>> polars_storage_options(fs, {}) is None
        True
    """
    if not {"s3", "s3a"}.intersection(protocols_of(fs)):
        return None
    options = dict(storage_options)
    client = dict(options.get("client_kwargs") or {})
    out: dict[str, str] = {}
    for ours, theirs in (
        ("key", "aws_access_key_id"),
        ("secret", "aws_secret_access_key"),
        ("token", "aws_session_token"),
    ):
        if options.get(ours):
            out[theirs] = str(options[ours])
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        if client.get(name):
            out[name] = str(client[name])
    endpoint = endpoint_of(fs)
    if endpoint:
        out["aws_endpoint_url"] = endpoint
        if endpoint.startswith("http://"):
            out["aws_allow_http"] = "true"
    region = client.get("region_name") or options.get("region_name")
    if region:
        out["aws_region"] = str(region)
    elif endpoint:
        out["aws_region"] = "us-east-1"  # S3-compatible servers ignore it; the reader needs one
    if options.get("anon"):
        out["aws_skip_signature"] = "true"
    return out
