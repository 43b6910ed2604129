"""The public surface of ``conveyor.stores`` is exactly what other layers code against."""

from __future__ import annotations

import dataclasses
import inspect

import conveyor.stores as stores
from conveyor.stores import DatasetVersionRecord, MetadataStore, RunRecord, StepRecord


def test_public_api_is_exact() -> None:
    assert sorted(stores.__all__) == sorted(
        [
            "RUN_STATUSES", "STEP_STATUSES", "ArtifactRecord", "ArtifactStore", "ByteBackend",
            "DatasetVersionRecord", "FsspecBackend", "GcResult", "LocalBackend", "MemoryBackend",
            "MetadataStore", "RunRecord", "StepRecord", "default_metadata_url", "digest_key",
            "head_revisions", "migration_config", "register_reference_query", "retrying",
            "unregister_reference_query", "validate_digest", "validate_key",
        ]
    )  # fmt: skip
    for name in stores.__all__:
        assert hasattr(stores, name), name


def test_record_fields_are_the_documented_ones() -> None:
    def fields(cls: type) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    assert fields(RunRecord) == [
        "id", "project", "kind", "status", "started_at", "finished_at", "duration_s", "config",
        "config_fingerprint", "code_version", "command", "error", "summary", "pid", "host",
        "parent_run_id",
    ]  # fmt: skip
    assert fields(StepRecord) == [
        "id", "run_id", "name", "position", "status", "fingerprint", "cached", "inputs",
        "outputs", "rows_in", "rows_out", "duration_s", "metrics", "notes", "warnings", "error",
        "started_at", "finished_at",
    ]  # fmt: skip
    assert fields(DatasetVersionRecord) == [
        "id", "project", "version", "digest", "rows", "columns", "schema", "source", "run_id",
        "created_at",
    ]  # fmt: skip
    for cls in (RunRecord, StepRecord, DatasetVersionRecord):
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_options_are_keyword_only() -> None:
    params = inspect.signature(MetadataStore.create_run).parameters
    assert [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD] == [
        "self",
        "project",
    ]
    params = inspect.signature(MetadataStore.finish_step).parameters
    assert [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD] == [
        "self",
        "step_id",
    ]


def test_importing_stores_pulls_in_no_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, conveyor.stores; "
        "bad = [m for m in ('polars', 'pandas', 'sklearn', 'fsspec', 'alembic', 'sqlalchemy.orm') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]", out
