"""Data sources: files (CSV, TSV, Parquet, JSON, JSON Lines, Excel, globs of
them), SQL tables and queries, and paginated HTTP JSON APIs.

Every reader returns a :class:`polars.DataFrame` with whitespace-trimmed,
unique column names, or raises a :class:`~conveyor.errors.DataError` that
names the file and line, table or URL (credentials masked) and what to do.

JSON, JSON Lines and HTTP records are flattened: a nested object becomes
``parent.child`` columns at every depth (lists stay list columns), so later
steps see plain columns. A glob of files, and several sources, are stacked
by column name; a column missing somewhere is null there, and types that
differ slightly (int/float, number/text) relax to a common type, while a
true conflict (a date in one file, a number in another) is an error.

Example:
    >>> from conveyor.data.sources import collect
    >>> result = collect(config.data.sources, root=Path("."))  # doctest: +SKIP
    >>> result.frame.shape, result.per_source  # doctest: +SKIP
    ((7043, 20), {'main': 7043})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor._lazy import lazy_exports

if TYPE_CHECKING:
    from conveyor.data.sources._collect import CollectResult, collect, read_source
    from conveyor.data.sources._files import read_table_file
    from conveyor.data.sources._paths import source_files

# Imported on first use: listing a source's files (source_files) needs no reader.
_HOMES = {
    "CollectResult": "_collect",
    "collect": "_collect",
    "read_source": "_collect",
    "read_table_file": "_files",
    "source_files": "_paths",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


__all__ = ["CollectResult", "collect", "read_source", "read_table_file", "source_files"]
