"""API keys for the HTTP service: parsed from the environment, kept only as hashes.

``CONVEYOR_API_KEYS`` holds comma-separated ``name:key:scope1+scope2`` entries,
scopes being ``predict``, ``feedback`` and ``admin``. A request sends its key as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. With no keys configured
the service is open, which :func:`check_bind` allows on loopback addresses only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from conveyor.errors import ConfigError

__all__ = [
    "API_KEYS_ENV",
    "SCOPES",
    "ApiKey",
    "KeyRing",
    "check_bind",
    "is_loopback",
    "parse_api_keys",
]

API_KEYS_ENV = "CONVEYOR_API_KEYS"
SCOPES = frozenset({"predict", "feedback", "admin"})


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its name, the sha256 of its secret, and its scopes."""

    name: str
    digest: bytes
    scopes: frozenset[str]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def parse_api_keys(text: str | None, *, source: str = API_KEYS_ENV) -> list[ApiKey]:
    """Parse ``name:key:scope1+scope2,...``; the secrets are hashed at once.

    Raises:
        ConfigError: an entry is malformed, a name repeats or a scope is unknown
            (the message names the entry by position and name, never the secret).
    """
    keys: list[ApiKey] = []
    seen: set[str] = set()
    for position, raw in enumerate((text or "").split(",")):
        entry = raw.strip()
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ConfigError(
                f"{source}: entry {position} is not 'name:key:scope1+scope2'",
                hint="e.g. CONVEYOR_API_KEYS='app:<key>:predict+feedback,ops:<key>:admin'",
            )
        name, secret, scope_text = (p.strip() for p in parts)
        scopes = frozenset(s.strip() for s in scope_text.split("+") if s.strip())
        unknown = sorted(scopes - SCOPES)
        if unknown or not scopes:
            raise ConfigError(
                f"{source}: key {name!r}: unknown scope(s) {unknown or [scope_text]} "
                f"(allowed: {', '.join(sorted(SCOPES))})"
            )
        if name in seen:
            raise ConfigError(f"{source}: key name {name!r} appears more than once")
        seen.add(name)
        keys.append(ApiKey(name=name, digest=_digest(secret), scopes=scopes))
    return keys


class KeyRing:
    """The configured keys; answers "who is this and may they do that?".

    Args:
        keys: parsed keys (see :func:`parse_api_keys`).

    Example:
        >>> ring = KeyRing.from_env({"CONVEYOR_API_KEYS": "app:s3cret:predict"})
        >>> ring.authenticate("s3cret").name
        'app'
    """

    def __init__(self, keys: list[ApiKey]) -> None:
        self._keys = list(keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KeyRing:
        """Keys from ``env[CONVEYOR_API_KEYS]`` (none when unset)."""
        return cls(parse_api_keys(env.get(API_KEYS_ENV)))

    @classmethod
    def from_mapping(cls, keys: Mapping[str, str]) -> KeyRing:
        """Keys from ``{name: "key:scope1+scope2"}`` (the form ``create_app(api_keys=...)`` takes)."""
        text = ",".join(f"{name}:{spec}" for name, spec in keys.items())
        return cls(parse_api_keys(text, source="api_keys"))

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured (requests must then authenticate)."""
        return bool(self._keys)

    def authenticate(self, secret: str | None) -> ApiKey | None:
        """The key whose secret is ``secret``, or None; constant-time per key."""
        if not secret:
            return None
        digest = _digest(secret)
        found: ApiKey | None = None
        # Compare against every key so timing does not reveal which one matched.
        for key in self._keys:
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys_configured: bool, insecure: bool) -> None:
    """Refuse to serve a non-loopback address without API keys unless ``insecure``.

    Raises:
        ConfigError: ``host`` is not loopback, no key is configured and
            ``insecure`` is False.
    """
    if keys_configured or insecure or is_loopback(host):
        return
    raise ConfigError(
        f"serve: refusing to bind {host!r} without API keys: anyone who can reach it "
        "could use the model",
        hint=f"set {API_KEYS_ENV}='name:key:predict+feedback', bind 127.0.0.1, or pass --insecure",
    )
