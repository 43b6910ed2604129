"""Artifact digests (hex sha256) and the storage keys derived from them."""

from __future__ import annotations

import re

from conveyor.errors import StoreError

__all__ = ["DIGEST_PATTERN", "digest_key", "validate_digest"]

DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


def validate_digest(digest: object) -> str:
    """Return ``digest`` if it is a sha256 hex digest (64 lowercase hex characters).

    Raises:
        StoreError: anything else, naming what was given.

    Example:
        >>> validate_digest("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")[:8]
        'e3b0c442'
    """
    if isinstance(digest, str) and DIGEST_PATTERN.fullmatch(digest):
        return digest
    shown = repr(digest) if len(repr(digest)) <= 80 else repr(digest)[:77] + "..."
    raise StoreError(
        f"{shown} is not an artifact digest: expected 64 lowercase hex characters (sha256)"
    )


def digest_key(digest: str) -> str:
    """The backend key of a blob: ``sha256/<first 2 hex>/<remaining 62 hex>``."""
    validate_digest(digest)
    return f"sha256/{digest[:2]}/{digest[2:]}"
