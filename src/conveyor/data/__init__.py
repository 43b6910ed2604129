"""Data stages: collect from sources, infer and enforce a schema, clean, split.

Polars is the engine throughout; every function here is pure (frames in,
frames and reports out) except the readers in :mod:`conveyor.data.sources`.
"""

from conveyor.data.clean import CleanResult, OpReport, clean
from conveyor.data.schema import ColumnSchema, DatasetSchema, infer_schema
from conveyor.data.sources import CollectResult, collect, read_source, read_table_file, source_files
from conveyor.data.split import SplitResult, split_frame
from conveyor.data.validate import ValidationResult, Violation, validate_frame

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
