"""The artifact store on a real S3-compatible server (moto): conformance, integrity, atomicity,
and clear errors for an unreachable endpoint, missing credentials and a missing bucket."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conveyor.errors import NotFound, StoreError
from conveyor.stores import ArtifactStore, FsspecBackend, digest_key
from conveyor.testing import ARTIFACT_CHECKS, ArtifactCheck

from .conftest import S3_SECRET, StallingProxy, free_port, s3_client

WRITER = Path(__file__).with_name("_s3_writer.py")
SRC = Path(__file__).resolve().parents[3] / "src"
# Fail fast in the bad-input tests: botocore otherwise retries a dead endpoint for ~10 s.
FAST_FAIL = {"config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}


@pytest.fixture
def s3_store(s3_bucket: str, s3_options: dict[str, Any]) -> ArtifactStore:
    return ArtifactStore.from_url(
        f"s3://{s3_bucket}/artifacts", root=Path("/unused"), storage_options=s3_options
    )


@pytest.mark.parametrize("check", ARTIFACT_CHECKS, ids=lambda check: check.__name__)
def test_artifact_store_conformance_on_s3(
    check: ArtifactCheck, s3_store: ArtifactStore, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    check(s3_store, workdir)


def test_blobs_land_under_the_prefix_as_plain_objects(
    s3_store: ArtifactStore, s3_bucket: str, s3_endpoint: str
) -> None:
    digest = s3_store.put_bytes(b"hello s3")
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"artifacts/{digest_key(digest)}"]
    assert isinstance(s3_store.backend, FsspecBackend)
    assert S3_SECRET not in repr(s3_store) + repr(s3_store.backend)


def test_an_object_changed_in_the_bucket_fails_the_verified_read(
    s3_store: ArtifactStore, s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    digest = s3_store.put_bytes(b"model weights v1")
    evil = b"model weights v2"
    s3_client(s3_endpoint).put_object(
        Bucket=s3_bucket, Key=f"artifacts/{digest_key(digest)}", Body=evil
    )
    actual = hashlib.sha256(evil).hexdigest()
    with pytest.raises(StoreError, match=f"artifact {digest} is corrupt: content hash is {actual}"):
        s3_store.get_bytes(digest)
    with pytest.raises(StoreError, match="is corrupt"), s3_store.open(digest) as stream:
        stream.read()
    dest = tmp_path / "out.bin"
    with pytest.raises(StoreError, match="is corrupt"):
        s3_store.get_to_file(digest, dest)
    assert not dest.exists(), "a corrupt blob must not be left at the destination"


@pytest.mark.parametrize("mode", ["artifact", "log"])
def test_a_writer_killed_mid_upload_leaves_nothing_visible(
    mode: str, s3_endpoint: str, s3_bucket: str, s3_options: dict[str, Any]
) -> None:
    """A large upload held half-sent by a proxy, then the writer is SIGKILLed."""
    proxy = StallingProxy(int(s3_endpoint.rsplit(":", 1)[1]), limit=2 << 20)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), mode, proxy.url, s3_bucket],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.strip() == "first-done", proc.stderr.read().decode() if proc.stderr else ""
        assert proxy.stalled.wait(60), "the large upload never started"
        assert proxy.forwarded > 1 << 20, "the server should hold part of the upload"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proxy.cut()
    if mode == "artifact":
        store = ArtifactStore.from_url(
            f"s3://{s3_bucket}/store", root=Path("/unused"), storage_options=s3_options
        )
        small = hashlib.sha256(b"small and complete").hexdigest()
        assert list(store.digests()) == [small]
        assert store.get_bytes(small) == b"small and complete"
    else:
        from conveyor.stores.prediction_log import PredictionLog

        with PredictionLog(f"s3://{s3_bucket}/predictions", storage_options=s3_options) as log:
            frame = log.scan().collect()
            assert sorted(frame["prediction_id"]) == [f"small-{i}" for i in range(10)]
            assert not log.contains("big-0")
    keys = [o["Key"] for o in s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(keys) == 1, f"only the completed write may be visible, found {keys}"


def test_an_unreachable_endpoint_is_a_store_error_naming_the_address() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    backend = FsspecBackend(
        "s3://bucket/artifacts", endpoint_url=address, key="k", secret="s", **FAST_FAIL
    )
    store = ArtifactStore(backend, url="s3://bucket/artifacts")
    for attempt in (lambda: store.put_bytes(b"x"), lambda: list(store.digests())):
        with pytest.raises(StoreError) as info:
            attempt()
        assert info.value.headline.startswith(
            f"artifact store s3://bucket/artifacts (endpoint {address}): cannot reach {address}"
        )
        assert "endpoint_url" in (info.value.hint or "")


def test_missing_credentials_are_a_store_error(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    backend = FsspecBackend(
        f"s3://{s3_bucket}/artifacts", endpoint_url=s3_endpoint, skip_instance_cache=True
    )
    with pytest.raises(StoreError, match="no credentials found while") as info:
        ArtifactStore(backend).put_bytes(b"x")
    assert s3_endpoint in info.value.headline
    assert "key" in (info.value.hint or "") and "AWS_ACCESS_KEY_ID" in (info.value.hint or "")


def test_a_missing_bucket_is_named(s3_options: dict[str, Any]) -> None:
    store = ArtifactStore.from_url(
        "s3://no-such-bucket-here/artifacts", root=Path("/unused"), storage_options=s3_options
    )
    digest = hashlib.sha256(b"x").hexdigest()
    for attempt in (
        lambda: store.put_bytes(b"x"),
        lambda: store.get_bytes(digest),
        lambda: list(store.digests()),
    ):
        with pytest.raises(StoreError, match="bucket 'no-such-bucket-here' does not exist") as info:
            attempt()
        assert not isinstance(info.value, NotFound), "a missing bucket is not a missing blob"
        assert "create the bucket 'no-such-bucket-here'" in (info.value.hint or "")


def test_a_missing_blob_in_an_existing_bucket_is_not_found(s3_store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(NotFound, match=f"artifact {digest_key(digest)} not found in s3://"):
        s3_store.get_bytes(digest)
    assert not s3_store.exists(digest)
