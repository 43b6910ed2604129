"""Data stages: collect from sources, infer and enforce a schema, clean, split.

Polars is the engine throughout; every function here is pure (frames in,
frames and reports out) except the readers in :mod:`conveyor.data.sources`.

The names below are imported on first use, so that importing one submodule
(``conveyor.data.sources``) does not load every stage (nor Polars).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor._lazy import lazy_exports

if TYPE_CHECKING:
    from conveyor.data._clean import CleanResult, OpReport, clean
    from conveyor.data.schema import ColumnSchema, DatasetSchema, infer_schema
    from conveyor.data.sources import (
        CollectResult,
        collect,
        read_source,
        read_table_file,
        source_files,
    )
    from conveyor.data.split import SplitResult, split_frame
    from conveyor.data.validate import ValidationResult, Violation, validate_frame

_HOMES = {
    "CleanResult": "_clean",
    "OpReport": "_clean",
    "clean": "_clean",
    "ColumnSchema": "schema",
    "DatasetSchema": "schema",
    "infer_schema": "schema",
    "CollectResult": "sources",
    "collect": "sources",
    "read_source": "sources",
    "read_table_file": "sources",
    "source_files": "sources",
    "SplitResult": "split",
    "split_frame": "split",
    "ValidationResult": "validate",
    "Violation": "validate",
    "validate_frame": "validate",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "CleanResult",
    "CollectResult",
    "ColumnSchema",
    "DatasetSchema",
    "OpReport",
    "SplitResult",
    "ValidationResult",
    "Violation",
    "clean",
    "collect",
    "infer_schema",
    "read_source",
    "read_table_file",
    "source_files",
    "split_frame",
    "validate_frame",
]
