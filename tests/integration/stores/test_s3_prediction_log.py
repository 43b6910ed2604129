"""The prediction log on a real S3-compatible server (moto): append, flush, scan, contains,
what readers see, and clear errors when the object store is not there."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conveyor import Project
from conveyor.errors import StoreError
from conveyor.stores.prediction_log import LOG_FORMAT_KEY, LogLocation, PredictionLog

from .conftest import S3_SECRET, free_port, s3_client

FAST_FAIL = {"config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}
NOON = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)


def _rows(prefix: str, n: int, *, ts: datetime = NOON, version: int = 1, **inputs: Any) -> list:
    return [
        {
            "prediction_id": f"{prefix}{i}",
            "model": "churn",
            "version": version,
            "ts": ts,
            "inputs": {"tenure": i, **inputs},
            "prediction": "yes" if i % 2 else "no",
            "probabilities": {"yes": 0.7, "no": 0.3},
            "latency_ms": 1.5,
        }
        for i in range(n)
    ]


@pytest.fixture
def log_url(s3_bucket: str) -> str:
    return f"s3://{s3_bucket}/team/predictions"


def test_append_flush_scan_and_contains_on_s3(
    log_url: str, s3_options: dict[str, Any], s3_bucket: str, s3_endpoint: str
) -> None:
    with PredictionLog(log_url, storage_options=s3_options, flush_interval_s=60) as log:
        assert log.root == log_url and not log.location.is_local
        log.append(_rows("a", 50))
        assert log.contains("a7")  # queued rows count before they are written
        log.flush()
        log.append(_rows("b", 20, ts=NOON + timedelta(hours=2), version=2, plan="gold"))
        log.flush()
        frame = log.scan().collect()
        assert frame.height == 70
        assert set(frame.columns) >= {"prediction_id", "tenure", "plan", "probabilities"}
        assert log.scan(version=2).collect()["plan"].to_list() == ["gold"] * 20
        assert log.scan(since=NOON + timedelta(hours=1)).collect().height == 20
        assert log.scan(model="other").collect().height == 0
    objects = s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]
    keys = sorted(o["Key"] for o in objects)
    assert [k.rsplit("/", 1)[0] for k in keys] == [
        "team/predictions/churn/v1/2026-11-28/12",
        "team/predictions/churn/v2/2026-11-28/14",
    ]
    assert all(k.rsplit("/", 1)[1].startswith("part-") for k in keys)
    body = s3_client(s3_endpoint).get_object(Bucket=s3_bucket, Key=keys[0])["Body"].read()
    assert pl.read_parquet_metadata(io.BytesIO(body))[LOG_FORMAT_KEY] == "1"

    # A new process (a new log object) finds ids in the segments, not in memory.
    with PredictionLog(log_url, storage_options=s3_options) as again:
        assert again.contains("a49") and again.contains("b0")
        assert not again.contains("zzz")
        assert again.lookup(["a1", "b2", "nope"]) == {"a1": "churn", "b2": "churn"}


def test_readers_never_see_hidden_or_foreign_objects(
    log_url: str, s3_options: dict[str, Any], s3_bucket: str, s3_endpoint: str
) -> None:
    with PredictionLog(log_url, storage_options=s3_options) as log:
        log.append(_rows("a", 5))
        log.flush()
        client = s3_client(s3_endpoint)
        hour = "team/predictions/churn/v1/2026-11-28/12"
        client.put_object(Bucket=s3_bucket, Key=f"{hour}/.part-x.parquet.tmp", Body=b"half")
        client.put_object(Bucket=s3_bucket, Key=f"{hour}/notes.txt", Body=b"hello")
        assert log.scan().collect().height == 5
        assert len(log.location.glob("churn/v*/*/*/part-*.parquet")) == 1


def test_the_project_helper_puts_the_log_on_s3(
    tmp_path: Path, s3_options: dict[str, Any], log_url: str
) -> None:
    project = Project.from_mapping(
        {
            "project": "churn",
            "task": "binary",
            "target": "churn",
            "data": {"sources": [{"path": "data.csv"}]},
            "stores": {"predictions": log_url, "storage_options": s3_options},
        },
        root=tmp_path,
    )
    where = project.prediction_log_root()
    assert isinstance(where, LogLocation) and where.url == log_url
    with project.open_prediction_log() as log:
        log.append(_rows("p", 3))
        log.flush()
    assert PredictionLog(where).scan().collect().height == 3
    assert S3_SECRET not in repr(where) + str(where)
    assert not (tmp_path / ".conveyor" / "predictions").exists()


def test_an_unreachable_endpoint_keeps_rows_queued_and_names_the_address(tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    options = {"endpoint_url": address, "key": "k", "secret": "s", **FAST_FAIL}
    log = PredictionLog("s3://bucket/predictions", storage_options=options)
    log.append(_rows("a", 3))
    with pytest.raises(StoreError) as info:
        log.flush()
    assert f"cannot reach {address}" in info.value.message
    assert "prediction log s3://bucket/predictions" in info.value.message
    assert log.contains("a1"), "rows that could not be written stay queued"
    with pytest.raises(StoreError, match="3 rows could not be written"):
        log.close()
    with pytest.raises(StoreError, match=f"prediction log s3://bucket/predictions .*{address}"):
        PredictionLog(LogLocation("s3://bucket/predictions", options)).scan()


def test_a_missing_bucket_is_named_by_writer_and_reader(s3_options: dict[str, Any]) -> None:
    url = "s3://no-such-log-bucket/predictions"
    log = PredictionLog(url, storage_options=s3_options)
    log.append(_rows("a", 2))
    with pytest.raises(StoreError, match="bucket 'no-such-log-bucket' does not exist"):
        log.flush()
    with pytest.raises(StoreError, match="bucket 'no-such-log-bucket' does not exist"):
        log.scan()
    with pytest.raises(StoreError, match="2 rows could not be written"):
        log.close()


def test_an_empty_log_on_s3_scans_as_an_empty_frame(log_url: str, s3_options: dict) -> None:
    with PredictionLog(log_url, storage_options=s3_options) as log:
        assert not log.location.exists()
        frame = log.scan().collect()
        assert frame.height == 0 and "prediction_id" in frame.columns
        assert not log.contains("x")
