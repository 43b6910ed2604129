"""``conveyor drift REF CURRENT``: compare two datasets (or a model's reference) for drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from conveyor.cli._console import _state, console, open_project, print_json

if TYPE_CHECKING:
    import polars as pl

    from conveyor.config._monitoring import DriftConfig
    from conveyor.monitor.drift import DriftReport

_VERSION = re.compile(r"^(?:dataset:)?(v?\d+|latest|[0-9a-f]{7,64})$")


def register(app: typer.Typer) -> None:
    app.command("drift")(drift_cmd)


def drift_cmd(
    reference: Annotated[
        str,
        typer.Argument(
            help="Baseline: a data file (csv, tsv, parquet, json, jsonl, xlsx), a dataset "
            "version of the project (3, v3, latest, a digest prefix), or a model's "
            "reference.json / bundle folder."
        ),
    ],
    current: Annotated[
        str, typer.Argument(help="Data to check: a data file or a dataset version.")
    ],
    columns: Annotated[
        str | None, typer.Option("--columns", help="Compare only these columns (a,b,c).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when the dataset verdict is drift.")
    ] = False,
) -> None:
    """Per-column drift of CURRENT against REF, and the dataset verdict.

    Numeric columns: KS test on small samples, normalised Wasserstein distance on
    large ones; categorical columns: chi-square / Jensen-Shannon; thresholds from
    monitor.drift in conveyor.yaml when the project has one. Exit 0, or 1 with
    --fail-on-drift when the dataset drifted; 2 on bad input.
    """
    from conveyor.errors import DataError
    from conveyor.monitor.drift import drift_between_frames, drift_from_reference

    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if columns is not None and not wanted:
        raise DataError("--columns is empty: name columns separated by commas, e.g. --columns a,b")
    config = _drift_config()
    ref_label, ref_obj = _load(reference, role="reference", allow_reference=True)
    cur_label, cur_frame = _load(current, role="current", allow_reference=False)
    assert not isinstance(cur_frame, dict)
    if isinstance(ref_obj, dict):
        stats = _only_columns(ref_obj, wanted, ref_label)
        prediction = "prediction" if "prediction" in cur_frame.columns else None
        result = drift_from_reference(stats, cur_frame, config, prediction_column=prediction)
    else:
        result = drift_between_frames(ref_obj, cur_frame, config, columns=wanted)
    if report is not None:
        from conveyor.monitor._drift_html import render_drift_html

        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(
            render_drift_html(
                result,
                title=f"Drift: {cur_label} against {ref_label}",
                reference=ref_label,
                current=cur_label,
            ),
            encoding="utf-8",
        )
    if json_out:
        print_json({"reference": ref_label, "current": cur_label, **result.to_dict()})
    else:
        _print(result, ref_label, cur_label, report)
    if fail_on_drift and result.dataset_drift:
        # SystemExit, not typer.Exit: main() runs Typer with standalone_mode=False, which
        # would turn typer.Exit into a return value and lose the code.
        raise SystemExit(1)


def _drift_config() -> DriftConfig | None:
    """``monitor.drift`` of the project's conveyor.yaml, when there is one."""
    root = Path(_state["project"])
    if (root if root.is_file() else root / "conveyor.yaml").is_file():
        return open_project(None).config.monitor.drift
    return None


def _load(text: str, *, role: str, allow_reference: bool) -> tuple[str, Any]:
    """A label and either a frame or parsed reference statistics."""
    from conveyor.errors import DataError

    path = Path(text)
    if path.is_dir():
        if allow_reference and (path / "reference.json").is_file():
            return _reference(path / "reference.json", _read_json(path / "reference.json"))
        raise DataError(
            f"{role} {text!r} is a folder; give a data file"
            + (" or a model bundle folder (with reference.json)" if allow_reference else "")
        )
    if path.is_file():
        if allow_reference and path.suffix.lower() == ".json" and _starts_with_object(path):
            data = _read_json(path)
            if isinstance(data, dict) and "features" in data:
                return _reference(path, data)
        from conveyor.data.sources import read_table_file

        return str(path), read_table_file(path)
    match = _VERSION.match(text)
    if match is None:
        raise DataError(
            f"{role} {text!r}: no such file, and not a dataset version (3, v3, latest, "
            "or a digest prefix)",
            hint="paths are relative to the current directory",
        )
    return _dataset_version(match.group(1))


def _reference(path: Path, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Reference statistics, checked here so that errors name the file."""
    from conveyor.monitor._drift_reference import read_reference

    read_reference(data, where=str(path))
    return str(path), data


def _starts_with_object(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _read_json(path: Path) -> Any:
    import json

    from conveyor.errors import DataError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot read reference statistics: {exc}") from exc


def _dataset_version(ref: str) -> tuple[str, pl.DataFrame]:
    import io

    import polars as pl

    project = open_project(None)
    with project:
        version = project.metadata.get_dataset_version(ref, project=project.config.project)
        frame = pl.read_parquet(io.BytesIO(project.artifacts.get_bytes(version.digest)))
    return f"dataset v{version.version}", frame


def _only_columns(stats: dict[str, Any], wanted: list[str] | None, label: str) -> dict[str, Any]:
    from conveyor.errors import DataError

    if wanted is None:
        return stats
    features = stats.get("features")
    if not isinstance(features, dict):
        return stats  # the drift call explains what is wrong with the file
    absent = [c for c in wanted if c not in features]
    if absent:
        raise DataError(
            f"--columns: {', '.join(repr(c) for c in absent)} not in {label} "
            f"(it describes: {', '.join(repr(c) for c in list(features)[:12])})"
        )
    return {**stats, "features": {c: features[c] for c in wanted}}


def _print(result: DriftReport, ref_label: str, cur_label: str, report: Path | None) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    con = console()
    table = Table(
        title=f"drift of {cur_label} against {ref_label}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("column", overflow="fold", min_width=12)
    for name in ("kind", "method"):
        table.add_column(name, no_wrap=True)
    for name in ("statistic", "threshold"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("drifted", no_wrap=True)
    rows = [*result.columns, *([result.prediction] if result.prediction else [])]
    notes = []
    for c in rows:
        verdict = Text("yes", style="bold red") if c.drifted else Text("no", style="green")
        if c.missing_drifted:
            verdict.append(" (missing)")
            notes.append(
                f"{c.column}: missing rate {c.missing_rate_reference:.1%} -> "
                f"{c.missing_rate_current:.1%}"
            )
        table.add_row(
            c.column + (" (prediction)" if c is result.prediction else ""),
            c.kind,
            c.method,
            _num(c.statistic),
            _num(c.threshold),
            verdict,
        )
    con.print(table)
    for note in notes:
        con.print(Text(note))
    drifted = len(result.drifted_columns())
    style = "bold red" if result.dataset_drift else "bold green"
    con.print(
        Text.assemble(
            ("dataset drift" if result.dataset_drift else "no dataset drift", style),
            f": {drifted} of {len(result.columns)} column(s) drifted "
            f"(share {result.share:.2f}, threshold {result.share_threshold:.2f}); "
            f"{result.n_current:,} current rows",
        )
    )
    for name, reason in result.skipped.items():
        con.print(Text(f"not compared: {name} ({reason})", style="dim"))
    if report is not None:
        con.print(Text(f"report: {report}", style="dim"))


def _num(value: float) -> str:
    import math

    return "-" if not math.isfinite(value) else f"{value:.4g}"
