"""File sources: resolve a path or glob against the config directory, read
each file with its format's reader, and stack the results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from conveyor.config.models import SourceConfig
from conveyor.data.sources._common import (
    Progress,
    SourceRead,
    no_progress,
    preview,
    select_columns,
    stack,
)
from conveyor.data.sources._csv import read_csv_file
from conveyor.data.sources._formats import (
    read_excel_file,
    read_json_file,
    read_jsonl_file,
    read_parquet_file,
)
from conveyor.data.sources._paths import FILE_KINDS, GLOB_CHARS, display_path, source_files
from conveyor.errors import DataError

Reader = Callable[..., pl.DataFrame]
_READERS: dict[str, Reader] = {
    "csv": read_csv_file,
    "tsv": read_csv_file,
    "parquet": read_parquet_file,
    "json": read_json_file,
    "jsonl": read_jsonl_file,
    "excel": read_excel_file,
}


def read_one_file(
    path: Path,
    source: SourceConfig,
    *,
    root: Path,
    columns: Sequence[str] | None = None,
    strict: bool = True,
) -> pl.DataFrame:
    """Read one file of a file source (no row-count check)."""
    where = display_path(path, root)
    kind = source.resolved_type or ""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{where}: cannot read: {exc.strerror}") from exc
    if size == 0:
        raise DataError(
            f"{where}: the file is empty (0 bytes)", hint="re-export the data, or remove the file"
        )
    try:
        return _READERS[kind](path, source, where=where, columns=columns, strict=strict)
    except PermissionError as exc:
        raise DataError(f"{where}: permission denied") from exc


def read_file_source(
    source: SourceConfig, *, root: Path, progress: Progress = no_progress
) -> SourceRead:
    """Read a file source (one file or a glob) into one frame."""
    files = source_files(source, root=root)
    single = len(files) == 1 and not GLOB_CHARS.intersection(source.path or "")
    frames: list[tuple[str, pl.DataFrame]] = []
    for i, path in enumerate(files):
        label = display_path(path, root)
        progress(f"{source.name}: reading {label}", i / len(files))
        frame = read_one_file(path, source, root=root, columns=source.columns, strict=single)
        if source.add_file_column:
            if source.add_file_column in frame.columns:
                raise DataError(
                    f"{label}: add_file_column {source.add_file_column!r} is already a column of the data",
                    hint="choose another name for 'add_file_column'",
                )
            frame = frame.with_columns(pl.lit(label, dtype=pl.String).alias(source.add_file_column))
        frames.append((label, frame))
    progress(f"{source.name}: read {len(files)} file(s)", 1.0)
    what = f"the files of source {source.name!r} ({source.path})"
    combined = stack(frames, what)
    if not single and source.columns:
        wanted = [*source.columns, *([source.add_file_column] if source.add_file_column else [])]
        combined = select_columns(combined, wanted, f"source {source.name!r} ({source.path})")
    if combined.height == 0:
        if single:
            raise DataError(
                f"{frames[0][0]}: no data rows (columns: {preview(combined.columns, 8)})",
                hint="the file has a header but no rows; check that the export finished",
            )
        raise DataError(
            f"source {source.name!r}: none of the {len(files)} files matching {source.path!r} has data rows"
        )
    notes = []
    if not single:
        notes.append(f"{source.name}: {len(files)} files matching {source.path}")
        empty = [label for label, f in frames if f.height == 0]
        if empty:
            notes.append(f"{source.name}: files without rows: {preview(empty, 5)}")
    return SourceRead(combined, notes)


def read_table_file(path: Path, *, kind: str | None = None) -> pl.DataFrame:
    """Read a csv/tsv/parquet/json/jsonl/xlsx file, the format told by its extension.

    Used by batch scoring and drift checks on files named on the command line;
    relative paths are relative to the current directory.

    Example:
        >>> frame = read_table_file(Path("new_customers.parquet"))  # doctest: +SKIP

    Raises:
        DataError: the file is missing, empty, unreadable, of unknown format,
            or has no rows.
    """
    path = Path(path)
    try:
        source = SourceConfig(name=path.name, type=kind, path=str(path))  # type: ignore[arg-type]
    except ValueError:
        raise DataError(
            f"{path}: cannot tell the file format"
            + (
                f" (kind {kind!r} is not one of {sorted(FILE_KINDS)})"
                if kind
                else " from its extension"
            ),
            hint="use .csv, .tsv, .parquet, .json, .jsonl or .xlsx, or pass kind=",
        ) from None
    if source.resolved_type not in FILE_KINDS:
        raise DataError(f"{path}: {kind!r} is not a file format; use one of {sorted(FILE_KINDS)}")
    return read_file_source(source, root=Path.cwd()).frame
