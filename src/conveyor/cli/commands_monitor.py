"""``conveyor monitor``: drift, data quality, live performance and serving health of a window.

Exit codes: 0 monitored (and every ``--fail-on`` check passed); 1 a ``--fail-on``
check failed (dataset drift, or a performance gate); 2 a usage or config error
(unknown model or version, bad ``--since``/``--window``); 3 nothing to judge
(no prediction in the window, or ``--fail-on performance`` with fewer labelled
predictions than ``monitor.min_labels``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from conveyor.cli._console import console, fmt_rows, open_project, print_json
from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from conveyor.monitor import MonitorResult

EXIT_FAILED = 1
EXIT_NOTHING = 3
_CHECKS = ("drift", "performance")
_CONFIG = typer.Option("--config", "-c", help="conveyor.yaml or project directory.")


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor_cmd)


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{option}: {text!r} is not an ISO date or time "
            "(e.g. 2026-11-28 or 2026-11-28T09:00:00Z)"
        ) from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _window(text: str | None) -> float | None:
    from conveyor.config._monitoring import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--window: {exc}") from exc


def _checks(values: list[str]) -> list[str]:
    checks = [v.strip() for value in values for v in value.split(",") if v.strip()]
    unknown = [c for c in checks if c not in _CHECKS]
    if unknown:
        shown = ", ".join(map(repr, unknown))
        raise ConfigError(f"--fail-on: {shown}: expected drift or performance")
    return list(dict.fromkeys(checks))


def monitor_cmd(
    model: Annotated[
        str | None,
        typer.Argument(help="Model name (default: the config's), or name:3 / name@alias."),
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="Monitor only this version.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Window start, ISO (UTC unless a zone is given).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Window end, ISO (default: now).")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="Window length, e.g. 7d (default monitor.window)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="HTML report path (JSON beside it, .json)."),
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option("--fail-on", help="drift and/or performance: exit 1 when it fails (for CI)."),
    ] = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not record the figures in the metadata store.")
    ] = False,
    config: Annotated[str | None, _CONFIG] = None,
) -> None:
    """Drift, data quality, live performance and serving health over a window of predictions."""
    checks = _checks(fail_on or [])
    start, end, span = _moment(since, "--since"), _moment(until, "--until"), _window(window)
    if report is not None and report.suffix.lower() == ".json":
        raise ConfigError(
            f"--report {report}: name the HTML report; the JSON report is written beside it"
        )
    from conveyor.monitor import default_report_path, history_points, write_monitor_reports

    with open_project(config) as project:
        if "performance" in checks and not project.config.evaluate.gates:
            raise ConfigError(
                "--fail-on performance: evaluate.gates is empty in conveyor.yaml",
                hint='add gates, e.g. evaluate: {gates: {roc_auc: ">= 0.8"}}',
            )
        result = project.monitor(
            model, version=version, since=start, window=span, until=end, store_results=not no_store
        )
        paths: tuple[Path, Path] | None = None
        if not result.empty:
            path = report or default_report_path(project.root, result.model, at=datetime.now(UTC))
            paths = write_monitor_reports(
                result, path, history=history_points(project.metadata, result)
            )
        verdicts = _verdicts(result, checks, project.config.evaluate.gates)
    _warn_invalid_labels(result)
    if json_out:
        document = result.to_dict()
        document["reports"] = {"html": str(paths[0]), "json": str(paths[1])} if paths else None
        document["checks"] = verdicts
        print_json(document)
    else:
        _print(result, paths, verdicts)
    codes = [v["exit_code"] for v in verdicts.values() if v["exit_code"]]
    if codes:
        # SystemExit, not typer.Exit: main() runs Typer with standalone_mode=False, which
        # turns typer.Exit into a return value that is not the process's exit code.
        raise SystemExit(EXIT_FAILED if EXIT_FAILED in codes else EXIT_NOTHING)


def _verdicts(result: MonitorResult, checks: list[str], gates: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.empty:
        return {
            c: {"passed": None, "exit_code": EXIT_NOTHING, "reasons": ["nothing to monitor"]}
            for c in checks
        }
    if "drift" in checks:
        drift = result.drift
        failed = drift is not None and drift.dataset_drift
        reasons = (
            [
                f"dataset drift: {len(drift.drifted_columns())} of {len(drift.columns)} features "
                f"drifted (share {drift.share:.3g} > {drift.share_threshold:.3g}): "
                f"{', '.join(drift.drifted_columns())}"
            ]
            if failed and drift is not None
            else []
        )
        out["drift"] = {
            "passed": not failed,
            "exit_code": EXIT_FAILED if failed else 0,
            "reasons": reasons,
        }
    if "performance" in checks:
        live = result.live_metrics()
        labels = (result.performance.get("overall") or {}).get("labels", 0)
        if not live:
            minimum = result.performance.get("min_labels")
            out["performance"] = {
                "passed": None,
                "exit_code": EXIT_NOTHING,
                "reasons": [
                    f"{labels} labelled prediction(s), fewer than monitor.min_labels ({minimum}): "
                    "the gates cannot be judged"
                ],
            }
        else:
            from conveyor.evaluate.gates import check_gates

            gate = check_gates(gates, live, task=result.task, where="evaluate.gates")
            out["performance"] = {
                "passed": gate.passed,
                "exit_code": 0 if gate.passed else EXIT_FAILED,
                "reasons": [f"{line} on {labels} labelled predictions" for line in gate.failed],
                "gates": gate.results,
            }
    return out


def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _print(
    result: MonitorResult, paths: tuple[Path, Path] | None, verdicts: dict[str, Any]
) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = console()
    window = f"{result.window_start:%Y-%m-%d %H:%M} → {result.window_end:%Y-%m-%d %H:%M} UTC"
    if result.empty:
        for note in result.notes:
            con.print(escape(note))
        _print_verdicts(verdicts)
        return
    versions = ", ".join(f"v{v}" for v in result.versions)
    con.print(
        f"[bold]{escape(result.model)}[/bold] {window}: {fmt_rows(result.n_predictions)} predictions "
        f"({versions}), {fmt_rows(result.n_labelled)} labelled; judged against "
        f"v{result.primary_version}"
    )
    for note in result.notes:
        con.print(f"[yellow]note:[/yellow] {escape(note)}")
    drift = result.drift
    if drift is not None:
        table = Table(title="drift", title_justify="left")
        for col in ("feature", "method", "statistic", "threshold", "drifted"):
            table.add_column(col)
        ranked = sorted(drift.columns, key=lambda c: (not c.drifted, -(c.statistic or 0.0)))
        shown = ranked[:10] + ([drift.prediction] if drift.prediction else [])
        for c in shown:
            flag = "[red]yes[/red]" if c.drifted else "no"
            table.add_row(escape(c.column), c.method, _f(c.statistic), _f(c.threshold), flag)
        con.print(table)
        verdict = "[red]dataset drift[/red]" if drift.dataset_drift else "no dataset drift"
        con.print(
            f"{len(drift.drifted_columns())} of {len(drift.columns)} features drifted "
            f"(share {drift.share:.3g}, threshold {drift.share_threshold:.3g}): {verdict}"
        )
    metrics = result.metrics()
    quality = Table(title="data quality", title_justify="left")
    for col in ("null rate", "schema violations", "unseen categories", "out of range"):
        quality.add_column(col)
    quality.add_row(
        _f(metrics["data.null_rate"]),
        fmt_rows(result.quality.get("schema_violations")),
        _f(metrics["data.unseen_categories"]),
        _f(metrics["data.out_of_range"]),
    )
    con.print(quality)
    _print_performance(result)
    health = Table(title="serving health", title_justify="left")
    for col in ("version", "rows", "p50 ms", "p95 ms", "p99 ms", "error rate", "fallback rate"):
        health.add_column(col)
    rows = [("served", result.health.get("overall") or {})]
    rows += [(f"v{v}", h) for v, h in (result.health.get("versions") or {}).items()]
    for name, h in rows:
        health.add_row(
            name,
            fmt_rows(h.get("rows")),
            _f(h.get("p50_ms"), 3),
            _f(h.get("p95_ms"), 3),
            _f(h.get("p99_ms"), 3),
            _f(h.get("error_rate")),
            _f(h.get("fallback_rate")),
        )
    con.print(health)
    if paths:
        con.print("report:")
        con.print(f"  {paths[0]}", soft_wrap=True)
        con.print(f"  {paths[1]}", soft_wrap=True)
    _print_verdicts(verdicts)


def _print_performance(result: MonitorResult) -> None:
    from rich.table import Table

    from conveyor.monitor import REPORTED_METRICS

    perf = result.performance
    names = REPORTED_METRICS.get(result.task or "", ())
    table = Table(title="live performance", title_justify="left")
    for col in ("", "labels", *names):
        table.add_column(col)
    rows = [("served", perf["overall"])] + [(f"v{v}", f) for v, f in perf["versions"].items()]
    for name, figure in rows:
        scores = figure.get("metrics") or {}
        table.add_row(name, fmt_rows(figure["labels"]), *(_f(scores.get(m)) for m in names))
    console().print(table)
    if not perf["overall"].get("metrics"):
        console().print(
            f"fewer than monitor.min_labels ({perf['min_labels']}) labelled predictions: "
            "no performance figures"
        )


def _warn_invalid_labels(result: MonitorResult) -> None:
    from rich.markup import escape

    invalid = (result.performance or {}).get("invalid_labels") or {}
    if invalid.get("count"):
        examples = ", ".join(map(str, invalid.get("examples") or []))
        console(stderr=True).print(
            f"warning: {invalid['count']} feedback label(s) ignored: "
            f"{escape(invalid['reason'])} (e.g. {escape(examples)})"
        )


def _print_verdicts(verdicts: dict[str, Any]) -> None:
    from rich.markup import escape

    con = console()
    for check, verdict in verdicts.items():
        state = {
            True: "[green]passed[/green]",
            False: "[red]failed[/red]",
            None: "[yellow]not judged[/yellow]",
        }
        con.print(f"--fail-on {check}: {state[verdict['passed']]}")
        for reason in verdict["reasons"]:
            con.print(f"  {escape(reason)}")
