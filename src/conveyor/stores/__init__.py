"""Stores: the metadata database (SQL) and the content-addressed artifact store.

::

    MetadataStore(url)              runs, steps, lineage, artifacts, dataset versions
    ArtifactStore.from_url(url, root=...)
        └── ByteBackend             LocalBackend | MemoryBackend | FsspecBackend
"""

from conveyor.stores._backends import (
    ByteBackend,
    FsspecBackend,
    LocalBackend,
    MemoryBackend,
    validate_key,
)
from conveyor.stores._digests import digest_key, validate_digest
from conveyor.stores._engine import default_metadata_url, retrying
from conveyor.stores._migrate import head_revisions, migration_config
from conveyor.stores._records import (
    RUN_STATUSES,
    STEP_STATUSES,
    ArtifactRecord,
    DatasetVersionRecord,
    RunRecord,
    StepRecord,
)
from conveyor.stores._references import register_reference_query, unregister_reference_query
from conveyor.stores.artifacts import ArtifactStore, GcResult
from conveyor.stores.metadata import MetadataStore

__all__ = [
    "RUN_STATUSES",
    "STEP_STATUSES",
    "ArtifactRecord",
    "ArtifactStore",
    "ByteBackend",
    "DatasetVersionRecord",
    "FsspecBackend",
    "GcResult",
    "LocalBackend",
    "MemoryBackend",
    "MetadataStore",
    "RunRecord",
    "StepRecord",
    "default_metadata_url",
    "digest_key",
    "head_revisions",
    "migration_config",
    "register_reference_query",
    "retrying",
    "unregister_reference_query",
    "validate_digest",
    "validate_key",
]
