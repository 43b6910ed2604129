"""Where the prediction log lives: local directories, fsspec URLs, the config keys that choose
them, and how object store failures are explained (the S3 runs are in tests/integration)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor import Project
from conveyor.config import mask_secrets, parse_config
from conveyor.config.models import StoresConfig
from conveyor.errors import ConfigError, StoreError
from conveyor.stores._log_location import _segment_regex
from conveyor.stores._remote import RemoteErrors, open_filesystem, polars_storage_options
from conveyor.stores.prediction_log import LogLocation, PredictionLog, is_remote_url

TS = datetime(2026, 11, 28, 9, 15, tzinfo=UTC)
BASE = "project: p\ntask: binary\ntarget: y\ndata: {sources: [{path: d.csv}]}\n"


def _rows(prefix: str, n: int, **inputs: object) -> list[dict]:
    return [
        {"prediction_id": f"{prefix}{i}", "model": "m", "version": 2, "ts": TS,
         "inputs": {"x": i, **inputs}, "prediction": 0.5}
        for i in range(n)
    ]  # fmt: skip


def test_a_log_on_an_fsspec_filesystem_writes_renames_and_reads_back() -> None:
    url = f"memory://conveyor-log-{uuid.uuid4().hex}/predictions"
    with PredictionLog(url) as log:
        assert log.root == url and not log.location.is_local
        log.append(_rows("a", 4))
        log.flush()
        log.append(_rows("b", 3, colour="red"))
        log.flush()
        assert log.scan().collect().height == 7
        assert log.scan(version=2).collect()["colour"].null_count() == 4
        files = log.location.glob("m/v2/*/*/*")
        assert len(files) == 2 and all("/m/v2/2026-11-28/09/part-" in f for f in files)
    again = PredictionLog(LogLocation(url))
    assert again.contains("a3") and again.contains("b0") and not again.contains("c0")
    again.close()
    fs, root = open_filesystem(url, what="prediction log")
    assert not [p for p in fs.find(root) if ".tmp" in p], "no temporary file may stay behind"


def test_a_local_log_keeps_its_path_and_layout(tmp_path: Path) -> None:
    with PredictionLog(tmp_path / "preds") as log:
        assert log.root == tmp_path / "preds" and log.location.is_local
        log.append(_rows("a", 2))
    (segment,) = (tmp_path / "preds").glob("m/v2/*/*/*")
    assert segment.name.startswith("part-") and segment.suffix == ".parquet"
    assert LogLocation(f"file://{tmp_path}/preds").glob("m/*/*/*/part-*.parquet") == [str(segment)]


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("m/v2/2026-11-28/09/part-1.parquet", True),
        ("m/v2/2026-11-28/09/.part-1.parquet.tmp", False),
        ("m/v2/2026-11-28/09/extra/part-1.parquet", False),
        ("m/v2/2026-11-28/part-1.parquet", False),
        ("other/v2/2026-11-28/09/part-1.parquet", True),
    ],
)
def test_segment_patterns_never_cross_a_slash(path: str, matches: bool) -> None:
    assert bool(_segment_regex("*/v*/*/*/part-*.parquet").fullmatch(path)) is matches


def test_remote_urls_are_told_from_paths() -> None:
    assert is_remote_url("s3://b/p") and is_remote_url("simplecache::s3://b/p")
    assert not is_remote_url("file:///srv/p") and not is_remote_url(".conveyor/predictions")
    assert not is_remote_url(Path("/srv/p"))


def test_fsspec_options_are_translated_for_polars() -> None:
    pytest.importorskip("s3fs")
    options = {"endpoint_url": "http://127.0.0.1:9000", "key": "AK", "secret": "SK",
               "client_kwargs": {"region_name": "eu-west-3"}}  # fmt: skip
    fs, root = open_filesystem("s3://bucket/logs", options, what="prediction log")
    assert root == "bucket/logs"
    assert polars_storage_options(fs, options) == {
        "aws_access_key_id": "AK",
        "aws_secret_access_key": "SK",
        "aws_endpoint_url": "http://127.0.0.1:9000",
        "aws_allow_http": "true",
        "aws_region": "eu-west-3",
    }


def test_object_store_failures_become_precise_store_errors() -> None:
    botocore = pytest.importorskip("botocore.exceptions")
    pytest.importorskip("s3fs")
    fs, _ = open_filesystem(
        "s3://team/artifacts", {"endpoint_url": "http://10.0.0.9:9000"}, what="artifact store"
    )
    errors = RemoteErrors("artifact store", "s3://team/artifacts", fs)
    where = "artifact store s3://team/artifacts (endpoint http://10.0.0.9:9000)"

    down = botocore.EndpointConnectionError(endpoint_url="http://10.0.0.9:9000/team")
    assert errors.translate(down, "writing x").headline.startswith(
        f"{where}: cannot reach http://10.0.0.9:9000 while writing x"
    )
    no_creds = errors.translate(botocore.NoCredentialsError(), "listing artifacts")
    assert no_creds.headline == f"{where}: no credentials found while listing artifacts"

    response = {"Error": {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist"}}
    try:
        try:
            raise botocore.ClientError(response, "PutObject")  # type: ignore[arg-type]
        except botocore.ClientError as inner:
            raise FileNotFoundError("The specified bucket does not exist") from inner
    except FileNotFoundError as exc:
        missing = errors.translate(exc, "writing x")
    assert missing.headline == f"{where}: bucket 'team' does not exist (writing x)"
    denied = errors.translate(PermissionError("AccessDenied"), "reading x")
    assert denied.headline.startswith(f"{where}: access denied while reading x")
    assert isinstance(errors.translate(OSError("disk on fire"), "reading x"), StoreError)


def test_a_missing_fsspec_implementation_says_what_to_install() -> None:
    with pytest.raises(StoreError, match="no filesystem is known for nosuchproto:// URLs"):
        open_filesystem("nosuchproto://b/p", what="prediction log")


def test_stores_config_takes_the_log_location_and_masks_credentials() -> None:
    text = BASE + (
        "stores:\n  predictions: s3://ml/churn/predictions\n  storage_options:\n"
        "    endpoint_url: http://minio:9000\n    key: AKIAEXAMPLE\n    secret: wJalrEXAMPLE\n"
        "    config_kwargs: {retries: {max_attempts: 2}}\n"
    )
    loaded = parse_config(text)
    stores = loaded.config.stores
    assert stores.predictions == "s3://ml/churn/predictions"
    assert stores.storage_options["config_kwargs"] == {"retries": {"max_attempts": 2}}
    assert stores.secret_paths() == {
        ("stores", "storage_options", "key"),
        ("stores", "storage_options", "secret"),
    }
    shown = mask_secrets(loaded.config.model_dump(mode="json"), stores.secret_paths())
    assert shown["stores"]["storage_options"]["key"] == "***"
    assert shown["stores"]["storage_options"]["secret"] == "***"
    assert shown["stores"]["storage_options"]["endpoint_url"] == "http://minio:9000"
    assert "wJalrEXAMPLE" not in str(loaded.masked())  # 'secret' is masked by name already
    assert StoresConfig().predictions is None and StoresConfig().storage_options == {}
    with pytest.raises(ConfigError, match="predictons"):
        parse_config(BASE + "stores: {predictons: s3://ml/p}\n")


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, ".conveyor/predictions"),
        ("logs/preds", "logs/preds"),
        ("file://logs/file-preds", "logs/file-preds"),
    ],
)
def test_the_project_resolves_local_logs_against_its_root(
    tmp_path: Path, setting: str | None, expected: str
) -> None:
    extra = "" if setting is None else f"stores: {{predictions: '{setting}'}}\n"
    (tmp_path / "conveyor.yaml").write_text(BASE + extra)
    project = Project(tmp_path)
    assert project.prediction_log_root() == tmp_path.resolve() / expected
    with project.open_prediction_log() as log:
        log.append(_rows("a", 1))
    assert list((tmp_path / expected).glob("m/v2/*/*/part-*.parquet"))


def test_an_absolute_log_directory_is_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "preds"
    project = Project.from_mapping(
        {"project": "p", "task": "binary", "target": "y", "data": {"sources": [{"path": "d.csv"}]},
         "stores": {"predictions": str(absolute)}},
        root=tmp_path / "proj",
    )  # fmt: skip
    assert project.prediction_log_root() == absolute


def test_the_project_hands_a_url_log_its_storage_options(tmp_path: Path) -> None:
    project = Project.from_mapping(
        {"project": "p", "task": "binary", "target": "y", "data": {"sources": [{"path": "d.csv"}]},
         "stores": {"predictions": "memory://team/predictions",
                    "storage_options": {"skip_instance_cache": True}}},
        root=tmp_path,
    )  # fmt: skip
    where = project.prediction_log_root()
    assert isinstance(where, LogLocation)
    assert where.url == "memory://team/predictions"
    assert where.storage_options == {"skip_instance_cache": True}
