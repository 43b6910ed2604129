"""Who may read the dashboard and who may move aliases: the server's keys and loopback rule.

The keys are the serving keys (``CONVEYOR_API_KEYS``, parsed by
:mod:`conveyor.serve.auth`). The rules:

- Reading: open when the dashboard is bound to a loopback address or no key is
  configured (``--insecure``); otherwise any valid key, whatever its scopes.
- Writing (promote, roll back, canary share): with keys configured, a key with
  the ``admin`` scope; without keys, only a client on loopback.

A request sends its key as ``Authorization: Bearer <key>`` or ``X-API-Key``,
or carries the signed session cookie that ``POST /login`` sets after checking a
key (the cookie holds the key's name and scopes with an HMAC, never the key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from conveyor.errors import ConfigError
from conveyor.serve.auth import API_KEYS_ENV, ApiKey, KeyRing, check_bind, is_loopback

__all__ = ["SESSION_COOKIE", "Caller", "UiAccess", "actor_of", "check_ui_bind"]

SESSION_COOKIE = "conveyor_ui_session"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the key's name and scopes (None name: anonymous)."""

    name: str | None
    scopes: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes


def check_ui_bind(host: str, keys_configured: bool, insecure: bool) -> None:
    """The server's rule (:func:`conveyor.serve.auth.check_bind`), worded for the dashboard.

    Raises:
        ConfigError: ``host`` is not loopback, no key is configured and ``insecure`` is False.
    """
    try:
        check_bind(host, keys_configured, insecure)
    except ConfigError as exc:
        raise ConfigError(
            f"ui: refusing to bind {host!r} without API keys: anyone who can reach it could "
            "read every run and move model aliases",
            hint=f"set {API_KEYS_ENV}='name:key:admin', bind 127.0.0.1, or pass --insecure",
        ) from exc


def actor_of(caller: Caller) -> str:
    """How the registry history records a dashboard user: ``ui:<key name>`` (``ui:local``)."""
    return f"ui:{caller.name or 'local'}"


@dataclass
class UiAccess:
    """The dashboard's access rules for one process.

    Args:
        keys: the configured API keys (may be empty).
        bound_loopback: whether the dashboard listens on a loopback address only.
    """

    keys: KeyRing
    bound_loopback: bool
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def auth_on(self) -> bool:
        """True when keys are configured: writing needs an admin key."""
        return self.keys.enabled

    @property
    def reads_need_key(self) -> bool:
        return self.keys.enabled and not self.bound_loopback

    # ------------------------------------------------------------ identifying

    def identify(self, request: Request) -> Caller | None:
        """The caller a request's key or session cookie names, or None."""
        header = request.headers.get("authorization", "")
        secret = header[7:].strip() if header[:7].lower() == "bearer " else None
        secret = secret or request.headers.get("x-api-key")
        if secret:
            key = self.keys.authenticate(secret)
            return None if key is None else _caller(key)
        cookie = request.cookies.get(SESSION_COOKIE)
        return self.read_session(cookie) if cookie else None

    def login(self, secret: str) -> tuple[Caller, str] | None:
        """Check a key; returns the caller and a session cookie value, or None."""
        key = self.keys.authenticate(secret.strip()) if secret else None
        if key is None:
            return None
        caller = _caller(key)
        payload = json.dumps(
            {"n": caller.name, "s": sorted(caller.scopes), "e": int(time.time()) + SESSION_SECONDS},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return caller, f"{body}.{self._sign(body)}"

    def read_session(self, value: str) -> Caller | None:
        """The caller of a session cookie this process signed and that has not expired."""
        body, _, signature = value.partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError):
            return None
        if not isinstance(data, dict) or int(data.get("e", 0)) < time.time():
            return None
        return Caller(name=str(data.get("n")), scopes=frozenset(data.get("s") or ()))

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------ deciding

    def reader(self, request: Request) -> Caller:
        """The caller of a read; raises 401 when reads need a key and none was given."""
        caller = self.identify(request)
        if caller is not None:
            return caller
        if self.reads_need_key:
            raise HTTPException(
                401,
                "this dashboard is bound to a non-loopback address: send an API key "
                "('Authorization: Bearer <key>') or sign in at /login",
            )
        return Caller(name=None)

    def admin(self, request: Request) -> Caller:
        """The caller of a write; raises 401/403 unless it may move aliases."""
        if not self.keys.enabled:
            host = request.client.host if request.client else ""
            if not is_loopback(host):
                raise HTTPException(
                    403, "without API keys, changes are only accepted from a loopback client"
                )
            return Caller(name=None, scopes=frozenset({"admin"}))
        caller = self.identify(request)
        if caller is None:
            raise HTTPException(
                401, "this action needs an API key with the 'admin' scope (none or unknown given)"
            )
        if not caller.is_admin:
            raise HTTPException(403, f"API key {caller.name!r} lacks the 'admin' scope")
        return caller


def _caller(key: ApiKey) -> Caller:
    return Caller(name=key.name, scopes=key.scopes)
