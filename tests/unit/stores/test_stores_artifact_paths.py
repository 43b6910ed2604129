"""Keys and tree paths can never reach outside a store (property-based), and URL mapping."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.errors import StoreError
from conveyor.stores import (
    ArtifactStore,
    FsspecBackend,
    LocalBackend,
    MemoryBackend,
    validate_key,
)
from conveyor.stores._backends import KEY_PATTERN
from conveyor.stores._trees import validate_relpath

_HEX = hashlib.sha256(b"x").hexdigest()
# Random text biased towards the characters that make path escapes.
_KEYISH = st.one_of(
    st.text(
        alphabet=st.sampled_from(list("./\\\x00:~sha256abcdef0123456789ABCDEF \n")), max_size=90
    ),
    st.text(max_size=80),
    st.builds(
        lambda a, b, sep: f"sha256{sep}{a}{sep}{b}",
        st.text(alphabet="0123456789abcdef./", min_size=0, max_size=4),
        st.text(alphabet="0123456789abcdef./\\", min_size=58, max_size=66),
        st.sampled_from(["/", "\\", "//", "/../"]),
    ),
)


def _snapshot(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=_KEYISH)
def test_random_keys_never_write_outside_the_local_root(key: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outer = Path(tmp)
        root = outer / "deep" / "store"
        root.mkdir(parents=True)
        (outer / "sentinel").write_text("keep")
        backend = LocalBackend(root)
        try:
            backend.put(key, b"payload")
        except StoreError:
            assert not KEY_PATTERN.fullmatch(key)
            assert _snapshot(outer) == {"deep", "deep/store", "sentinel"}, "rejected key wrote"
            for call in (backend.get, backend.exists, backend.delete, backend.size):
                with pytest.raises(StoreError):
                    call(key)
            return
        assert KEY_PATTERN.fullmatch(key), f"accepted a key outside the layout: {key!r}"
        written = _snapshot(outer) - {"deep", "deep/store", "sentinel"}
        assert all(p.startswith("deep/store/") for p in written), written


@settings(max_examples=100, deadline=None)
@given(key=_KEYISH)
def test_random_keys_are_rejected_alike_by_every_backend(key: str) -> None:
    valid = KEY_PATTERN.fullmatch(key) is not None
    backends = [MemoryBackend(), FsspecBackend(f"memory://keys-{uuid.uuid4().hex}")]
    for backend in backends:
        if valid:
            assert backend.exists(key) is False
        else:
            with pytest.raises(StoreError, match="invalid"):
                backend.exists(key)
            with pytest.raises(StoreError, match="invalid"):
                backend.put(key, b"x")
            assert list(backend.list_keys()) == []


@given(rel=st.text(alphabet=st.sampled_from(list("ab./\\\x00:")), min_size=0, max_size=12))
def test_tree_paths_that_validate_stay_inside_any_destination(rel: str) -> None:
    try:
        validate_relpath(rel)
    except StoreError:
        return
    dest = Path("/srv/dest")
    resolved = (dest / rel).resolve()
    assert resolved.is_relative_to(dest) and resolved != dest, rel


def test_validate_key_accepts_exactly_the_layout() -> None:
    key = f"sha256/{_HEX[:2]}/{_HEX[2:]}"
    assert validate_key(key) == key
    with pytest.raises(StoreError, match="invalid"):
        validate_key(key.encode())


@pytest.mark.parametrize(
    ("url", "backend", "where"),
    [
        (None, LocalBackend, ".conveyor/artifacts"),
        ("memory://", MemoryBackend, None),
        ("blobs", LocalBackend, "blobs"),
        ("file://{tmp}/abs", LocalBackend, "abs"),
        ("memory://named", MemoryBackend, None),
    ],
)
def test_from_url_picks_the_backend(
    url: str | None, backend: type, where: str | None, tmp_path: Path
) -> None:
    store = ArtifactStore.from_url(url.format(tmp=tmp_path) if url else url, root=tmp_path)
    assert isinstance(store.backend, backend)
    if where is not None:
        assert store.backend.root == (tmp_path / where).resolve()


def test_from_url_sends_other_schemes_to_fsspec(tmp_path: Path) -> None:
    store = ArtifactStore.from_url(f"memory://x-{uuid.uuid4().hex}/a", root=tmp_path)
    assert isinstance(store.backend, MemoryBackend)
    fs_store = ArtifactStore.from_url(f"simplecache::file://{tmp_path}/cached", root=tmp_path)
    assert isinstance(fs_store.backend, FsspecBackend)
    with pytest.raises(StoreError, match="nosuchproto"):
        ArtifactStore.from_url("nosuchproto://bucket/x", root=tmp_path)


def test_local_backend_leaves_no_temp_files_and_lists_only_blobs(tmp_path: Path) -> None:
    store = ArtifactStore(LocalBackend(tmp_path))
    digest = store.put_bytes(b"abc")
    shard = tmp_path / "sha256" / digest[:2]
    assert [p.name for p in shard.iterdir()] == [digest[2:]]
    (shard / ".tmp-leftover").write_bytes(b"half")
    (tmp_path / "sha256" / "README").write_text("not a blob")
    assert list(store.digests()) == [digest]
    assert oct((shard / digest[2:]).stat().st_mode & 0o777) == "0o644"
