"""Parquet, JSON, JSON Lines and Excel files: one reader per format.

Each reader takes one existing, non-empty file and returns a frame with tidy
column names, restricted to ``columns`` (pushed into the scan where the
format allows). Nested JSON objects become ``parent.child`` columns at every
depth, so downstream steps only ever see scalar or list columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import polars as pl

from conveyor.config.models import SourceConfig
from conveyor.data.sources._common import (
    check_columns,
    clean_names,
    first_line,
    flatten_structs,
    preview,
    records_at,
    records_to_frame,
)
from conveyor.errors import DataError

INFER_ROWS = 10_000


def _tidy(
    lf: pl.LazyFrame, columns: Sequence[str] | None, strict: bool, where: str
) -> pl.LazyFrame:
    names = lf.collect_schema().names()
    cleaned = clean_names(names, where)
    if cleaned != names:
        lf = lf.rename(dict(zip(names, cleaned)))
    if columns:
        if strict:
            check_columns(cleaned, columns, where)
        lf = lf.select([c for c in columns if c in cleaned])
    return lf


def read_parquet_file(
    path: Path, source: SourceConfig, *, where: str, columns: Sequence[str] | None, strict: bool
) -> pl.DataFrame:
    try:
        lf = pl.scan_parquet(path, glob=False)
        return _tidy(lf, columns, strict, where).collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(
            f"{where}: not a readable Parquet file: {first_line(exc)}",
            hint="the file may be truncated or another format with a .parquet name; "
            "set 'type' if the extension is wrong",
        ) from exc


def read_jsonl_file(
    path: Path, source: SourceConfig, *, where: str, columns: Sequence[str] | None, strict: bool
) -> pl.DataFrame:
    def attempt(infer: int | None) -> pl.DataFrame:
        lf = flatten_structs(pl.scan_ndjson(path, infer_schema_length=infer), where)
        return _tidy(lf, columns, strict, where).collect(engine="streaming")

    try:
        try:
            return attempt(INFER_ROWS)
        except pl.exceptions.ComputeError as exc:
            if "cannot parse" not in str(exc) and "could not parse" not in str(exc):
                raise
            return attempt(None)
    except pl.exceptions.PolarsError as exc:
        bad = _first_bad_json_line(path)
        if bad is not None:
            line, reason = bad
            raise DataError(
                f"{where}: line {line} is not valid JSON: {reason}",
                hint="each line of a JSON Lines file must be one complete JSON object",
            ) from exc
        raise DataError(f"{where}: cannot read as JSON Lines: {first_line(exc)}") from exc


def _first_bad_json_line(path: Path) -> tuple[int, str] | None:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                return number, str(exc).split(":", 1)[0]
            if not isinstance(value, dict):
                return number, f"expected an object, got {type(value).__name__}"
    return None


def read_json_file(
    path: Path, source: SourceConfig, *, where: str, columns: Sequence[str] | None, strict: bool
) -> pl.DataFrame:
    # A JSON document cannot be streamed record by record, so it is parsed whole.
    raw = path.read_bytes()
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        hint = None
        if exc.lineno > 1 and ("trailing" in exc.msg or "after document" in exc.msg):
            hint = "the file looks like one JSON object per line: set `type: jsonl`"
        raise DataError(
            f"{where}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            hint=hint,
        ) from exc
    frame = records_to_frame(records_at(document, source.records_path, where), where)
    return _tidy(frame.lazy(), columns, strict, where).collect()


def excel_sheet_name(path: Path, sheet: str | int | None, where: str) -> str:
    """The sheet a source reads: by name, by 0-based index, or the first one."""
    import fastexcel

    try:
        names = list(fastexcel.read_excel(path).sheet_names)
    except Exception as exc:  # fastexcel raises its own hierarchy rooted at Exception
        raise DataError(f"{where}: not a readable Excel workbook: {first_line(exc)}") from exc
    if sheet is None:
        if not names:
            raise DataError(f"{where}: the workbook has no sheets")
        return names[0]
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return names[sheet]
        raise DataError(
            f"{where}: sheet index {sheet} is out of range; the workbook has {len(names)} "
            f"sheets: {preview(names)}",
            hint="'sheet' counts from 0, or give the sheet's name",
        )
    if sheet in names:
        return sheet
    raise DataError(f"{where}: no sheet named {sheet!r}; sheets: {preview(names)}")


def read_excel_file(
    path: Path, source: SourceConfig, *, where: str, columns: Sequence[str] | None, strict: bool
) -> pl.DataFrame:
    import fastexcel

    name = excel_sheet_name(path, source.sheet, where)
    where = f"{where} [sheet {name!r}]"
    if source.has_header:
        # fastexcel renames duplicate headers (a, a_1); read the header row raw to catch them.
        head = fastexcel.read_excel(path).load_sheet(name, header_row=None, n_rows=1).to_polars()
        clean_names([str(v) for v in head.row(0) if v is not None] if head.height else [], where)
    try:
        frame = pl.read_excel(
            path,
            sheet_name=name,
            engine="calamine",
            has_header=source.has_header,
            infer_schema_length=INFER_ROWS,
        )
    except pl.exceptions.NoDataError as exc:
        raise DataError(f"{where}: the sheet is empty") from exc
    except Exception as exc:  # calamine errors are not Polars errors
        raise DataError(f"{where}: cannot read the sheet: {first_line(exc)}") from exc
    return _tidy(frame.lazy(), columns, strict, where).collect()
