"""API key parsing, checking and the bind guard."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.errors import ConfigError
from conveyor.serve.auth import KeyRing, check_bind, is_loopback, parse_api_keys


def test_parse_keeps_names_scopes_and_only_hashes() -> None:
    keys = parse_api_keys(" app:s3cret:predict+feedback , ops:other:admin ,")
    assert [(k.name, sorted(k.scopes)) for k in keys] == [
        ("app", ["feedback", "predict"]),
        ("ops", ["admin"]),
    ]
    assert keys[0].digest == hashlib.sha256(b"s3cret").digest()
    assert "s3cret" not in repr(keys)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("app:s3cret", "entry 0 is not 'name:key:scope1+scope2'"),
        ("a:k:predict,b::predict", "entry 1"),
        ("app:s3cret:predict+write", "unknown scope(s) ['write']"),
        ("app:k1:predict,app:k2:admin", "'app' appears more than once"),
    ],
)
def test_parse_rejects_bad_entries_without_echoing_secrets(text: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_api_keys(text)
    assert phrase in str(info.value) and "CONVEYOR_API_KEYS" in str(info.value)
    for secret in ("s3cret", "k1", "k2"):
        assert f":{secret}:" not in str(info.value)


def test_empty_or_unset_means_no_keys() -> None:
    assert parse_api_keys(None) == [] and parse_api_keys(" , ") == []
    assert not KeyRing.from_env({}).enabled


def test_keyring_authenticates_by_secret() -> None:
    ring = KeyRing.from_env({"CONVEYOR_API_KEYS": "app:s3cret:predict,ops:0ther:admin"})
    assert ring.enabled
    assert ring.authenticate("s3cret").name == "app"
    assert ring.authenticate("0ther").scopes == frozenset({"admin"})
    assert ring.authenticate("s3cre") is None
    assert ring.authenticate("") is None and ring.authenticate(None) is None
    mapped = KeyRing.from_mapping({"app": "s3cret:predict+feedback"})
    assert mapped.authenticate("s3cret").scopes == frozenset({"predict", "feedback"})


_TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_.", min_size=1, max_size=20
)
_SCOPES = st.sets(st.sampled_from(["predict", "feedback", "admin"]), min_size=1)


@given(st.lists(st.tuples(_TOKEN, _TOKEN, _SCOPES), max_size=5, unique_by=lambda t: t[0]))
def test_parse_round_trips(entries: list[tuple[str, str, set[str]]]) -> None:
    text = ",".join(f"{name}:{key}:{'+'.join(sorted(scopes))}" for name, key, scopes in entries)
    keys = parse_api_keys(text)
    assert [(k.name, set(k.scopes)) for k in keys] == [(n, s) for n, _, s in entries]
    ring = KeyRing(keys)
    for _name, key, _ in entries:
        found = ring.authenticate(key)
        # Two entries may share a secret; then either matches, but never a stranger.
        assert found is not None and key in {k for n, k, _ in entries if n == found.name}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "localhost", "::1", "[::1]"])
def test_loopback_is_always_allowed(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, keys_configured=False, insecure=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_public_bind_needs_keys_or_insecure(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="without API keys") as info:
        check_bind(host, keys_configured=False, insecure=False)
    assert "--insecure" in (info.value.hint or "")
    check_bind(host, keys_configured=True, insecure=False)
    check_bind(host, keys_configured=False, insecure=True)
