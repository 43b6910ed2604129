"""CSV and TSV files: a lazy Polars scan, and precise diagnoses when it fails.

Polars reports *that* a file is bad (``invalid utf-8 sequence``, ``found
more fields than defined``) but not *where*; the diagnoses here re-read the
file in Python only on that failure path, to name the byte offset or line.
Rows with *fewer* fields than the header are read with the missing trailing
fields as null (Polars' behaviour, and common in exported CSV).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from conveyor.config.models import SourceConfig
from conveyor.data.sources._common import check_columns, clean_names, first_line
from conveyor.errors import DataError

# Types are guessed from this many rows; when a later row disagrees the file is
# re-read with the whole column as evidence (a second pass, only on that path).
INFER_ROWS = 10_000
_UTF8 = {"utf8", "utf-8", "utf_8"}
_CHUNK = 1 << 20


def csv_delimiter(source: SourceConfig) -> str:
    if source.delimiter is not None:
        if len(source.delimiter.encode()) != 1:
            raise DataError(
                f"source {source.name!r}: delimiter must be one character, got {source.delimiter!r}"
            )
        return source.delimiter
    return "\t" if source.resolved_type == "tsv" else ","


def _encoding(source: SourceConfig) -> str:
    enc = source.encoding.strip().lower()
    if enc in _UTF8:
        return "utf8"
    if enc in {"utf8-lossy", "utf-8-lossy"}:
        return "utf8-lossy"
    try:
        return codecs.lookup(enc).name
    except LookupError:
        raise DataError(
            f"source {source.name!r}: unknown encoding {source.encoding!r}",
            hint="use utf8, utf8-lossy, latin-1, cp1252 or another Python codec name",
        ) from None


def read_csv_file(
    path: Path, source: SourceConfig, *, where: str, columns: Sequence[str] | None, strict: bool
) -> pl.DataFrame:
    """Read one CSV/TSV file with the source's dialect, keeping only ``columns``.

    ``strict`` makes a requested column that the file lacks an error (single
    files); otherwise the column is left for the caller to null-fill (globs).
    """
    sep = csv_delimiter(source)
    encoding = _encoding(source)
    data: Path | bytes = path
    if encoding not in {"utf8", "utf8-lossy"}:
        # Polars parses UTF-8 only: transcode in memory (legacy encodings are rare
        # and such files small; large data should be re-exported as UTF-8/Parquet).
        raw = path.read_bytes()
        try:
            data = raw.decode(encoding).encode("utf8")
        except UnicodeDecodeError as exc:
            raise _encoding_error(
                where,
                encoding,
                exc.start,
                raw[: exc.start].count(b"\n") + 1,
                raw[exc.start : exc.end],
            ) from exc
    header = _peek_header(path, sep, source, encoding) if source.has_header else None
    if header is not None:
        clean_names(header, where)  # duplicates are an error before Polars renames them
    try:
        return _scan(data, source, sep, columns, strict, where, INFER_ROWS, encoding)
    except pl.exceptions.PolarsError as exc:
        text = str(exc)
        if "could not parse" in text or "cannot parse" in text:
            try:
                return _scan(data, source, sep, columns, strict, where, None, encoding)
            except pl.exceptions.PolarsError as exc2:
                raise _diagnose(exc2, path, source, sep, where, encoding) from exc2
        raise _diagnose(exc, path, source, sep, where, encoding) from exc


def _scan(
    data: Path | bytes,
    source: SourceConfig,
    sep: str,
    columns: Sequence[str] | None,
    strict: bool,
    where: str,
    infer: int | None,
    encoding: str,
) -> pl.DataFrame:
    lf = pl.scan_csv(
        data,
        separator=sep,
        has_header=source.has_header,
        skip_rows=source.skip_rows,
        null_values=[v for v in source.null_values if v != ""] or None,
        empty_string_is_null="" in source.null_values,
        encoding="utf8-lossy" if encoding == "utf8-lossy" else "utf8",
        infer_schema_length=infer,
        with_column_names=lambda names: [n.strip() for n in names],
        glob=False,
    )
    if columns:
        available = lf.collect_schema().names()
        if strict:
            check_columns(available, columns, where)
        lf = lf.select([c for c in columns if c in available])
    return lf.collect(engine="streaming")


def _peek_header(path: Path, sep: str, source: SourceConfig, encoding: str) -> list[str] | None:
    codec = "utf-8" if encoding.startswith("utf8") else encoding
    with path.open(encoding=codec, errors="replace", newline="") as fh:
        for _ in range(source.skip_rows):
            if not fh.readline():
                return None
        return next(csv.reader(fh, delimiter=sep), None)


# ---------------------------------------------------------------- diagnoses


def _diagnose(
    exc: pl.exceptions.PolarsError,
    path: Path,
    source: SourceConfig,
    sep: str,
    where: str,
    encoding: str,
) -> DataError:
    text = str(exc)
    if "invalid utf-8" in text or "invalid utf8" in text:
        bad = first_invalid_utf8(path)
        if bad is not None:
            return _encoding_error(where, "utf8", *bad)
        return DataError(f"{where}: not valid UTF-8", hint="set `encoding: latin-1` in the source")
    if "more fields than defined" in text:
        found = _first_long_row(path, source, sep, encoding)
        if found is not None:
            line, expected, got = found
            return DataError(
                f"{where}: line {line} has {got} fields, but the header has {expected}",
                hint=f"fix that row (an unquoted {_name(sep)} inside a value?) or check "
                f"`delimiter` (now {sep!r})",
            )
        return DataError(f"{where}: a row has more fields than the header ({first_line(exc)})")
    if isinstance(exc, pl.exceptions.NoDataError):
        return DataError(f"{where}: no header and no rows (the file holds only blank lines)")
    if "could not parse" in text or "cannot parse" in text:
        return DataError(
            f"{where}: a column mixes value types: {first_line(exc)}",
            hint="check the named column for stray text, or set `null_values` for its placeholders",
        )
    return DataError(f"{where}: cannot read as CSV: {first_line(exc)}")


def _name(sep: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}.get(sep, repr(sep))


def _encoding_error(where: str, encoding: str, offset: int, line: int, bad: bytes) -> DataError:
    return DataError(
        f"{where}: not valid {encoding} at byte {offset} (line {line}): {bad[:8]!r}",
        hint="set `encoding: latin-1` (or cp1252) in the source for legacy Western-European "
        "files, or `encoding: utf8-lossy` to replace undecodable bytes",
    )


def first_invalid_utf8(path: Path) -> tuple[int, int, bytes] | None:
    """(byte offset, line number, offending bytes) of the first invalid UTF-8 sequence."""
    base, lines, pending = 0, 1, b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            data = pending + chunk
            final = not chunk
            try:
                _, consumed = codecs.utf_8_decode(data, "strict", final)
            except UnicodeDecodeError as exc:
                return (
                    base + exc.start,
                    lines + data[: exc.start].count(b"\n"),
                    data[exc.start : exc.end],
                )
            lines += data[:consumed].count(b"\n")
            base += consumed
            pending = data[consumed:]
            if final:
                return None


def _first_long_row(
    path: Path, source: SourceConfig, sep: str, encoding: str
) -> tuple[int, int, int] | None:
    """(1-based physical line, expected fields, found fields) of the first over-long row."""
    codec = "utf-8" if encoding.startswith("utf8") else encoding
    with path.open(encoding=codec, errors="replace", newline="") as fh:
        for _ in range(source.skip_rows):
            fh.readline()
        reader = csv.reader(fh, delimiter=sep)
        expected: int | None = None
        before = 0
        for record in reader:
            if expected is None:
                expected = len(record)
            elif len(record) > expected:
                return source.skip_rows + before + 1, expected, len(record)
            before = reader.line_num
    return None
