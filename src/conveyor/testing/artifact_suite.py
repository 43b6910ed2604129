"""Behaviour every artifact store backend must show (local, memory, fsspec, S3-compatible).

Each check takes a fresh, empty :class:`~conveyor.stores.ArtifactStore` and a
scratch directory (``workdir``, empty, outside the store)::

    @pytest.mark.parametrize("check", ARTIFACT_CHECKS, ids=lambda c: c.__name__)
    def test_memory_backend(check, tmp_path):
        check(ArtifactStore(MemoryBackend()), tmp_path)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from conveyor.errors import NotFound, StoreError
from conveyor.stores import ArtifactStore, digest_key
from conveyor.testing.metadata_suite import expect_error

__all__ = [
    "ARTIFACT_CHECKS",
    "ESCAPING_KEYS",
    "ArtifactCheck",
    "check_atomic_put_on_failing_stream",
    "check_blob_roundtrip_and_dedup",
    "check_escaping_keys_rejected",
    "check_gc",
    "check_invalid_digests_rejected",
    "check_missing_blob_not_found",
    "check_streamed_file_roundtrip",
    "check_tampered_blob_detected",
    "check_tree_escape_rejected",
    "check_tree_roundtrip",
    "check_tree_with_tampered_file",
    "check_truncated_blob_detected",
]

ArtifactCheck = Callable[[ArtifactStore, Path], None]

_VALID = hashlib.sha256(b"x").hexdigest()
ESCAPING_KEYS = [
    "",
    "..",
    "../x",
    "/etc/passwd",
    "sha256/../../etc/passwd",
    f"sha256/{_VALID[:2]}/../../../{_VALID[2:]}",
    f"sha256\\{_VALID[:2]}\\{_VALID[2:]}",
    f"sha256/{_VALID[:2]}/{_VALID[2:]}\x00",
    f"/sha256/{_VALID[:2]}/{_VALID[2:]}",
    f"sha256/{_VALID[:2]}/{_VALID[2:]}/",
    f"sha256/{_VALID[:2]}/{_VALID[2:].upper()}",
    f"sha256/{_VALID[:3]}/{_VALID[3:]}",
    f"sha256/{_VALID[:2]}/{_VALID[2:]}\n",
    f"md5/{_VALID[:2]}/{_VALID[2:]}",
    f"./sha256/{_VALID[:2]}/{_VALID[2:]}",
]
"""Keys no backend may accept (each must raise StoreError before any I/O)."""


def _files_under(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _make_tree(base: Path) -> Path:
    (base / "nested" / "deeper").mkdir(parents=True)
    (base / "model.skops").write_bytes(b"\x00model\xff" * 100)
    (base / "signature.json").write_text('{"inputs": []}')
    (base / "nested" / "deeper" / "stats.json").write_text("{}")
    (base / "nested" / "same.json").write_text('{"inputs": []}')  # duplicate content
    return base


def check_blob_roundtrip_and_dedup(store: ArtifactStore, workdir: Path) -> None:
    data = b"churn,tenure\nyes,3\n"
    digest = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.get_bytes(digest) == data
    assert store.exists(digest) and store.size(digest) == len(data)
    assert store.put_bytes(data) == digest
    assert list(store.digests()) == [digest], "stored once"
    empty = store.put_bytes(b"")
    assert store.get_bytes(empty) == b""
    assert sorted(store.digests()) == sorted([digest, empty])
    store.delete(empty)
    assert not store.exists(empty) and list(store.digests()) == [digest]
    store.delete(empty)  # deleting twice is fine


def check_streamed_file_roundtrip(store: ArtifactStore, workdir: Path) -> None:
    source = workdir / "big.bin"
    payload = os.urandom(1 << 16) * 40  # 2.5 MiB: several chunks
    source.write_bytes(payload)
    digest = store.put_file(source)
    assert digest == hashlib.sha256(payload).hexdigest()
    assert store.put_file(source) == digest
    with store.open(digest) as stream:
        assert stream.read() == payload
    dest = store.get_to_file(digest, workdir / "out" / "copy.bin")
    assert dest == workdir / "out" / "copy.bin" and dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"], "no temp files left"
    with expect_error(StoreError, "missing.bin"):
        store.put_file(workdir / "missing.bin")


def check_missing_blob_not_found(store: ArtifactStore, workdir: Path) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(digest)
    for call in (
        lambda: store.get_bytes(digest),
        lambda: store.open(digest),
        lambda: store.size(digest),
        lambda: store.get_to_file(digest, workdir / "x"),
        lambda: store.get_tree(digest, workdir / "t"),
    ):
        with expect_error(NotFound, digest[2:]):
            call()
    store.delete(digest)
    assert not (workdir / "x").exists() and not (workdir / "t").exists()


def check_invalid_digests_rejected(store: ArtifactStore, workdir: Path) -> None:
    for bad in ["abc", _VALID.upper(), "../" + _VALID[3:], _VALID + "0", "", _VALID[:-1] + "g"]:
        for call in (store.get_bytes, store.exists, store.size, store.delete, store.open):
            with expect_error(StoreError, "not an artifact digest"):
                call(bad)
        with expect_error(StoreError, "not an artifact digest"):
            ArtifactStore.validate_digest(bad)
    assert ArtifactStore.validate_digest(_VALID) == _VALID


def check_tampered_blob_detected(store: ArtifactStore, workdir: Path) -> None:
    digest = store.put_bytes(b"the real model")
    store.backend.put(digest_key(digest), b"an evil model!")
    actual = hashlib.sha256(b"an evil model!").hexdigest()
    with expect_error(StoreError, f"artifact {digest} is corrupt: content hash is {actual}"):
        store.get_bytes(digest)
    with expect_error(StoreError, "corrupt"), store.open(digest) as stream:
        stream.read()
    with expect_error(StoreError, "corrupt"):
        store.get_to_file(digest, workdir / "model.bin")
    assert not (workdir / "model.bin").exists()
    assert list(workdir.iterdir()) == [], "no temp file left behind"


def check_truncated_blob_detected(store: ArtifactStore, workdir: Path) -> None:
    data = b"0123456789" * 1000
    digest = store.put_bytes(data)
    store.backend.put(digest_key(digest), data[:-7])
    with expect_error(StoreError, "corrupt"):
        store.get_bytes(digest)
    assert store.put_bytes(data) == digest
    assert store.get_bytes(digest) == data, "a blob of the wrong size is rewritten"


def check_escaping_keys_rejected(store: ArtifactStore, workdir: Path) -> None:
    backend = store.backend
    for key in ESCAPING_KEYS:
        for call in (
            lambda k: backend.put(k, b"x"),
            backend.get,
            backend.open,
            backend.exists,
            backend.delete,
            backend.size,
        ):
            with expect_error(StoreError, "invalid"):
                call(key)
    assert list(store.digests()) == []
    assert list(workdir.iterdir()) == []


def check_atomic_put_on_failing_stream(store: ArtifactStore, workdir: Path) -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
            if self.sent > 3 * (1 << 20):
                raise RuntimeError("disk on fire")
            buffer[: len(buffer)] = b"x" * len(buffer)
            self.sent += len(buffer)
            return len(buffer)

    key = digest_key(_VALID)
    with expect_error(Exception, "disk on fire"):
        store.backend.put(key, io.BufferedReader(Failing()))
    assert not store.backend.exists(key), "a failed put must leave nothing"
    assert list(store.backend.list_keys()) == []


def check_tree_roundtrip(store: ArtifactStore, workdir: Path) -> None:
    source = _make_tree(workdir / "bundle")
    digest = store.put_tree(source)
    copy = workdir / "elsewhere" / "bundle-copy"
    shutil.copytree(source, copy)
    assert store.put_tree(copy) == digest, "tree digest depends only on paths and contents"
    manifest = json.loads(store.get_bytes(digest))
    assert manifest["conveyor_tree"] == 1
    assert sorted(manifest["files"]) == sorted(_files_under(source))
    assert store.tree_children(digest) == {e["digest"] for e in manifest["files"].values()}
    assert store.is_tree(digest) and not store.is_tree(next(iter(store.tree_children(digest))))
    out = store.get_tree(digest, workdir / "restored")
    assert out == workdir / "restored" and _files_under(out) == _files_under(source)
    empty_dest = workdir / "empty"
    empty_dest.mkdir()
    assert _files_under(store.get_tree(digest, empty_dest)) == _files_under(source)
    with expect_error(StoreError, "not empty"):
        store.get_tree(digest, out)
    leftovers = [p.name for p in workdir.iterdir() if ".tmp-" in p.name]
    assert leftovers == [], leftovers
    with expect_error(StoreError, "not a directory"):
        store.put_tree(source / "model.skops")
    linked = workdir / "linked"
    linked.mkdir()
    (linked / "secret").symlink_to("/etc/hostname")
    with expect_error(StoreError, "symbolic link"):
        store.put_tree(linked)
    with expect_error(StoreError, "not a tree manifest"):
        store.get_tree(store.put_bytes(b"plain bytes"), workdir / "never")


def check_tree_escape_rejected(store: ArtifactStore, workdir: Path) -> None:
    child = store.put_bytes(b"payload")
    dest = workdir / "inner" / "dest"
    for evil in ["../escaped", "a/../../escaped", "/tmp/escaped", "a\\..\\escaped", "./x", "a//b"]:
        manifest = {"conveyor_tree": 1, "files": {evil: {"digest": child, "size": 7}}}
        digest = store.put_bytes(json.dumps(manifest).encode())
        with expect_error(StoreError, "not allowed"):
            store.get_tree(digest, dest)
        assert not dest.exists()
    clash = {"a": {"digest": child, "size": 7}, "a/b": {"digest": child, "size": 7}}
    digest = store.put_bytes(json.dumps({"conveyor_tree": 1, "files": clash}).encode())
    with expect_error(StoreError, "clashes"):
        store.get_tree(digest, dest)
    future = store.put_bytes(json.dumps({"conveyor_tree": 2, "files": {}}).encode())
    with expect_error(StoreError, "format 2"):
        store.get_tree(future, dest)
    assert list(workdir.rglob("*")) == [], "nothing written"


def check_tree_with_tampered_file(store: ArtifactStore, workdir: Path) -> None:
    digest = store.put_tree(_make_tree(workdir / "bundle"))
    victim = sorted(store.tree_children(digest))[0]
    store.backend.put(digest_key(victim), b"tampered")
    with expect_error(StoreError, f"artifact {victim} is corrupt"):
        store.get_tree(digest, workdir / "restored")
    assert not (workdir / "restored").exists(), "a tree appears whole or not at all"
    assert [p.name for p in workdir.iterdir()] == ["bundle"], "staging cleaned up"


def check_gc(store: ArtifactStore, workdir: Path) -> None:
    tree = store.put_tree(_make_tree(workdir / "bundle"))
    kept_blob = store.put_bytes(b"referenced")
    garbage = {store.put_bytes(b"garbage-1"), store.put_bytes(b"garbage-22")}
    total = len(list(store.digests()))
    referenced = {tree, kept_blob, hashlib.sha256(b"not stored").hexdigest(), "not-a-digest"}
    young = store.gc(referenced, min_age_s=3600)
    assert young.removed == [] and young.kept == total, "fresh blobs are spared"
    dry = store.gc(referenced, dry_run=True)
    assert sorted(dry.removed) == sorted(garbage) and dry.bytes_freed == 9 + 10
    assert len(list(store.digests())) == total, "dry run deletes nothing"
    result = store.gc(referenced)
    assert sorted(result.removed) == sorted(garbage) and result.bytes_freed == 19
    assert result.kept == total - 2
    assert set(store.digests()) == {tree, kept_blob} | store.tree_children(tree)
    restored = store.get_tree(tree, workdir / "restored")
    assert _files_under(restored) == _files_under(workdir / "bundle")
    assert store.gc(referenced).removed == []
    everything = store.gc(set())
    assert len(everything.removed) == total - 2 and list(store.digests()) == []


ARTIFACT_CHECKS: list[ArtifactCheck] = [
    check_blob_roundtrip_and_dedup,
    check_streamed_file_roundtrip,
    check_missing_blob_not_found,
    check_invalid_digests_rejected,
    check_tampered_blob_detected,
    check_truncated_blob_detected,
    check_escaping_keys_rejected,
    check_atomic_put_on_failing_stream,
    check_tree_roundtrip,
    check_tree_escape_rejected,
    check_tree_with_tampered_file,
    check_gc,
]
"""Every artifact-store check, for ``pytest.mark.parametrize``."""
