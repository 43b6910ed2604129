"""Read every configured source and combine them into one dataset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from conveyor.config.models import SourceConfig
from conveyor.data.sources._common import Progress, SourceRead, no_progress, preview, stack
from conveyor.data.sources._files import FILE_KINDS, read_file_source
from conveyor.errors import ConfigError, DataError

COMBINE_MODES = ("concat", "first")


@dataclass(frozen=True)
class CollectResult:
    """What :func:`collect` gathered.

    Attributes:
        frame: all sources combined into one frame.
        per_source: rows read per source name (sources never read are absent).
        notes: remarks for the run log (pages fetched, files matched, sources skipped).
    """

    frame: pl.DataFrame
    per_source: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _read(source: SourceConfig, root: Path, progress: Progress) -> SourceRead:
    kind = source.resolved_type
    if kind in FILE_KINDS:
        return read_file_source(source, root=root, progress=progress)
    # SQLAlchemy and httpx are imported only by projects that use those sources.
    if kind == "sql":
        from conveyor.data.sources._sql import read_sql_source

        return read_sql_source(source, root=root, progress=progress)
    if kind == "http":
        from conveyor.data.sources._http import read_http_source

        return read_http_source(source, root=root, progress=progress)
    raise ConfigError(f"source {source.name!r}: unknown type {kind!r}")


def read_source(source: SourceConfig, *, root: Path) -> pl.DataFrame:
    """Read one source (file, glob, SQL table/query or HTTP API) into a frame.

    Args:
        source: the source's config.
        root: the folder relative paths are resolved against (the config's folder).

    Example:
        >>> src = SourceConfig(path="data/customers.csv")  # doctest: +SKIP
        >>> read_source(src, root=Path(".")).height  # doctest: +SKIP
        7043

    Raises:
        DataError: the source cannot be read; the message names the file, line,
            column, URL (password masked) or table, and what to do.
    """
    return _read(source, root, no_progress).frame


def collect(
    sources: Sequence[SourceConfig],
    *,
    root: Path,
    combine: str = "concat",
    progress: Callable[[str, float | None], None] | None = None,
) -> CollectResult:
    """Read ``sources`` and combine them into one frame.

    ``combine="concat"`` stacks every source by column name (a column missing
    from a source is null there; slightly different types are relaxed to a
    common one). ``combine="first"`` reads sources in order and keeps the
    first that has rows; later sources are not read.

    Example:
        >>> result = collect(config.data.sources, root=Path("."))  # doctest: +SKIP
        >>> result.per_source  # doctest: +SKIP
        {'2023': 5000, '2024': 2043}

    Raises:
        DataError: a source cannot be read, sources share no column, a column's
            types conflict across sources, or no source has any rows.
        ConfigError: ``combine`` is not one of ``concat``, ``first``.
    """
    if combine not in COMBINE_MODES:
        raise ConfigError(f"data.combine: {combine!r} is not one of {', '.join(COMBINE_MODES)}")
    if not sources:
        raise ConfigError("data.sources: at least one source is needed")
    report = progress or no_progress
    per_source: dict[str, int] = {}
    notes: list[str] = []
    frames: list[tuple[str, pl.DataFrame]] = []
    for i, source in enumerate(sources):
        report(f"reading source {source.name!r}", i / len(sources))
        got = _read(source, root, _scaled(report, i, len(sources)))
        per_source[source.name] = got.frame.height
        notes.extend(got.notes)
        frames.append((source.name, got.frame))
        if combine == "first" and got.frame.height:
            skipped = [s.name for s in sources[i + 1 :]]
            if skipped:
                notes.append(f"combine 'first': used {source.name!r}; not read: {preview(skipped)}")
            report("sources read", 1.0)
            return CollectResult(got.frame, per_source, notes)
    report("sources read", 1.0)
    if not any(f.height for _, f in frames):
        counts = ", ".join(f"{name}: 0" for name, _ in frames)
        raise DataError(f"no source returned any rows ({counts})")
    filled = [(name, f) for name, f in frames if f.height or f.width]
    _check_common_columns(filled)
    return CollectResult(stack(filled, "sources"), per_source, notes)


def _scaled(report: Progress, index: int, count: int) -> Progress:
    """A source's own 0..1 progress mapped onto its share of the whole collect."""

    def inner(label: str, fraction: float | None) -> None:
        report(label, None if fraction is None else (index + fraction) / count)

    return inner


def _check_common_columns(frames: Sequence[tuple[str, pl.DataFrame]]) -> None:
    if len(frames) < 2:
        return
    common = set(frames[0][1].columns).intersection(*(f.columns for _, f in frames[1:]))
    if not common:
        listing = "; ".join(f"{name}: {preview(f.columns, 6)}" for name, f in frames)
        raise DataError(
            f"cannot combine sources: they share no column ({listing})",
            hint="rename columns so the sources line up, or set `data.combine: first`",
        )
