"""The monitor reports: one self-contained HTML page (Plotly inline, no network) and JSON.

The HTML shows the snapshot, drift per feature with the reference and current
distributions, drift over time (from the stored series), live performance
(overall, per version, per slice) with the labels behind each figure and over
time, data quality per field, and serving health per version.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.evaluate import plots
from conveyor.evaluate._html import bullet_list, cell, esc, muted, page, raw_cell, section, table
from conveyor.monitor._drift_html import distribution_figures, drift_table_html
from conveyor.monitor._performance import REPORTED_METRICS
from conveyor.monitor._results import metric_rows
from conveyor.monitor._series import MetricPoint, metric_points

if TYPE_CHECKING:
    from conveyor.monitor.monitoring import MonitorResult
    from conveyor.stores.metadata import MetadataStore

__all__ = [
    "default_report_path",
    "history_points",
    "render_monitor_html",
    "write_monitor_reports",
]

_MAX_DRIFT_LINES = 10


def default_report_path(root: Path, model: str, *, at: datetime) -> Path:
    """``<root>/.conveyor/reports/monitor-<model>-<YYYYmmddTHHMMSSZ>.html``."""
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    return Path(root) / ".conveyor" / "reports" / f"monitor-{model}-{stamp}.html"


def history_points(
    store: MetadataStore, result: MonitorResult, *, days: float = 90.0
) -> list[MetricPoint]:
    """The stored drift and performance series the report plots, up to ``result``'s window.

    Windows ending in the ``days`` before ``result``'s end are read; ``result``
    itself is included even when it was not stored.
    """
    reported = REPORTED_METRICS.get(result.task or "", ())
    names = ["drift.share", "drift.statistic", "performance.labels"]
    names += [f"performance.{m}" for m in reported]
    points = metric_points(
        store,
        result.model,
        names=names,
        since=result.window_end - timedelta(days=days),
        until=result.window_end + timedelta(microseconds=1),
    )
    if result.run_id is None:
        points += [
            MetricPoint(result.window_end, row.name, row.value, row.version, row.column, "")
            for row in metric_rows(result, reported)
            if row.name in names and row.version is None
        ]
    return points


class _Figures:
    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: Any) -> str:
        self.count += 1
        return f'<div class="plot">{plots.figure_html(fig, div_id=f"plot-{self.count}")}</div>'


def _lines(title: str, y: str, series: dict[str, tuple[list[Any], list[Any]]]) -> Any:
    fig = plots.new_figure(title, x="window end (UTC)", y=y)
    for name, (xs, ys) in series.items():
        fig["data"].append(plots.line_trace(xs, ys, esc(name), mode="lines+markers"))
    return fig


def _add_labels(fig: Any, xs: list[Any], counts: list[Any]) -> None:
    """The labelled predictions behind each point, as a dotted line on a right-hand axis."""
    fig["data"].append(
        plots.line_trace(xs, counts, "labels (right axis)", mode="lines+markers", yaxis="y2",
                         line={"dash": "dot", "color": "#888888"}, marker={"size": 5})
    )  # fmt: skip
    fig["layout"]["yaxis2"] = {
        "title": {"text": "labelled predictions"}, "overlaying": "y", "side": "right",
        "rangemode": "tozero", "showgrid": False,
    }  # fmt: skip


def _summary(result: MonitorResult) -> str:
    facts = [
        ("model", result.model),
        ("window", f"{result.window_start.isoformat()} → {result.window_end.isoformat()}"),
        ("versions in window", ", ".join(f"v{v}" for v in result.versions) or "none"),
        ("primary version", f"v{result.primary_version}" if result.primary_version else "—"),
        ("serving version", f"v{result.serving_version}" if result.serving_version else "—"),
        ("predictions", result.n_predictions),
        ("labelled predictions", result.n_labelled),
        ("predictions since the serving version was registered", result.new_rows),
    ]
    rows = [[raw_cell(esc(k)), cell(v)] for k, v in facts]
    snapshot = [[raw_cell(esc(k)), cell(v)] for k, v in result.metrics().items()]
    return section(
        "summary",
        "Summary",
        table(["", ""], rows)
        + bullet_list(result.notes, cls="warnings")
        + "<h3>Metric snapshot</h3>"
        + table(["metric", "value"], snapshot),
    )


def _drift(result: MonitorResult, figures: _Figures) -> str:
    report = result.drift
    if report is None:
        return section("drift", "Drift", muted("No drift figures: no prediction in the window."))
    head = (
        f"<p>{len(report.drifted_columns())} of {len(report.columns)} feature(s) drifted "
        f"(share {report.share:.3g}, threshold {report.share_threshold:.3g}): "
        f"<b>{'dataset drift' if report.dataset_drift else 'no dataset drift'}</b>.</p>"
    )
    plots_html = "".join(figures.html(fig) for fig in distribution_figures(report))
    return section(
        "drift",
        "Drift",
        head
        + drift_table_html(report)
        + "<h3>Reference versus current distributions</h3>"
        + f'<div class="grid">{plots_html}</div>',
    )


def _history(result: MonitorResult, history: Sequence[MetricPoint], figures: _Figures) -> str:
    by_name: dict[tuple[str, int | None, str | None], list[MetricPoint]] = defaultdict(list)
    for point in history:
        by_name[(point.name, point.version, point.column)].append(point)

    def xy(points: list[MetricPoint]) -> tuple[list[Any], list[Any]]:
        return [p.window_end for p in points], [p.value for p in points]

    parts = []
    drift = {"drift.share": xy(by_name.get(("drift.share", None, None), []))}
    latest = {
        key[2]: points[-1].value or 0.0
        for key, points in by_name.items()
        if key[0] == "drift.statistic" and key[2] is not None
    }
    for column in sorted(latest, key=lambda c: -latest[c])[:_MAX_DRIFT_LINES]:
        drift[column] = xy(by_name[("drift.statistic", None, column)])
    if any(xs for xs, _ in drift.values()):
        parts.append(figures.html(_lines("Drift over time", "share / statistic", drift)))
    reported = REPORTED_METRICS.get(result.task or "", ())
    perf = {m: xy(by_name.get((f"performance.{m}", None, None), [])) for m in reported}
    if any(any(v is not None for v in ys) for _, ys in perf.values()):
        fig = _lines("Live performance over time", "metric", perf)
        labels = by_name.get(("performance.labels", None, None), [])
        _add_labels(fig, [p.window_end for p in labels], [p.value for p in labels])
        parts.append(figures.html(fig))
    if not parts:
        return section("history", "Over time", muted("No stored monitor runs of this model yet."))
    runs = len({p.monitor_run_id for p in history})
    note = muted(f"From {runs} stored monitor run(s), one point per window.")
    return section("history", "Over time", note + "".join(parts))


def _figure_rows(figures: Sequence[tuple[str, dict[str, Any]]], metrics: Sequence[str]) -> str:
    rows = [
        [raw_cell(esc(name)), cell(fig.get("labels", 0))]
        + [cell((fig.get("metrics") or {}).get(m)) for m in metrics]
        + [raw_cell(esc("; ".join(fig.get("notes") or [])), cls="muted")]
        for name, fig in figures
    ]
    return table(["", "labels", *metrics, "notes"], rows)


def _performance(result: MonitorResult, figures: _Figures) -> str:
    perf = result.performance
    if not perf:
        return section("performance", "Live performance", muted("No predictions in the window."))
    metrics = REPORTED_METRICS.get(result.task or "", ())
    parts = [
        muted(
            f"Figures need at least {perf['min_labels']} labelled predictions (monitor.min_labels)."
        )
    ]
    invalid = perf.get("invalid_labels") or {}
    if invalid.get("count"):
        examples = ", ".join(map(str, invalid.get("examples") or []))
        parts.append(
            f'<p class="fail">{invalid["count"]} feedback label(s) ignored: '
            f"{esc(invalid['reason'])} (e.g. {esc(examples)})</p>"
        )
    rows = [("overall (served)", perf["overall"])]
    rows += [(f"v{v}", fig) for v, fig in perf["versions"].items()]
    parts.append("<h3>Overall and per version</h3>" + _figure_rows(rows, metrics))
    for column, groups in perf["slices"].items():
        parts.append(
            f"<h3>By {esc(column)}</h3>" + _figure_rows([(g["value"], g) for g in groups], metrics)
        )
    buckets = perf["over_time"]
    if buckets:
        fig = plots.new_figure(
            "Live performance within the window", x="bucket start (UTC)", y="metric"
        )
        xs = [b["start"] for b in buckets]
        for m in metrics:
            ys = [b["metrics"].get(m) for b in buckets]
            fig["data"].append(plots.line_trace(xs, ys, m, mode="lines+markers"))
        _add_labels(fig, xs, [b["labels"] for b in buckets])
        parts.append(figures.html(fig))
    return section("performance", "Live performance", "".join(parts))


def _quality(result: MonitorResult) -> str:
    quality = result.quality
    if not quality:
        return section(
            "quality", "Data quality", muted("No inputs of the primary version in the window.")
        )
    rows = []
    for name, f in quality["fields"].items():
        v = f["violations"]
        rows.append(
            [
                raw_cell(esc(name)),
                raw_cell(esc(f"{f['type']} / {f['kind']}")),
                cell(f.get("null_rate")),
                cell(v["null"] + v["type"] + v["absent"]),
                cell(f.get("unseen_rate")),
                raw_cell(esc(", ".join(map(str, f.get("unseen_examples") or [])))),
                cell(f.get("out_of_range_rate")),
            ]
        )
    header = [
        "field",
        "type / kind",
        "null rate",
        "schema violations",
        "unseen categories",
        "unseen examples",
        "out of range",
    ]
    return section("quality", "Data quality", table(header, rows))


def _health(result: MonitorResult, figures: _Figures) -> str:
    versions = result.health.get("versions") or {}
    if not versions:
        return section("health", "Serving health", muted("No predictions in the window."))
    keys = ["rows", "shadow_rows", "p50_ms", "p95_ms", "p99_ms", "error_rate", "fallback_rate"]
    rows = [[raw_cell(f"v{esc(v)}")] + [cell(h.get(k)) for k in keys] for v, h in versions.items()]
    overall = result.health.get("overall")
    if overall:
        rows.insert(0, [raw_cell("overall (served)")] + [cell(overall.get(k)) for k in keys])
    fig = plots.new_figure("Latency per version", x="version", y="ms")
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        ys = [h.get(q) for h in versions.values()]
        fig["data"].append({"type": "bar", "x": [f"v{v}" for v in versions], "y": ys, "name": q})
    return section("health", "Serving health", table(["", *keys], rows) + figures.html(fig))


def render_monitor_html(result: MonitorResult, history: Sequence[MetricPoint] = ()) -> str:
    """The monitor report as one offline HTML page (every data-derived text escaped).

    Args:
        result: the monitor result.
        history: stored figures of earlier runs (see :func:`~conveyor.monitor.metric_points`).
    """
    figures = _Figures()
    body = "".join(
        [
            _summary(result),
            _drift(result, figures),
            _history(result, history, figures),
            _performance(result, figures),
            _quality(result),
            _health(result, figures),
        ]
    )
    title = f"Monitoring: {result.model}"
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("summary", "Summary"),
            ("drift", "Drift"),
            ("history", "Over time"),
            ("performance", "Performance"),
            ("quality", "Data quality"),
            ("health", "Serving health"),
        )
    )
    subtitle = (
        f"Conveyor monitor report · {result.window_start.isoformat()} → "
        f"{result.window_end.isoformat()}"
    )
    return page(title, subtitle, body, nav=nav, plots=bool(figures.count))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_monitor_reports(
    result: MonitorResult, html_path: Path, *, history: Sequence[MetricPoint] = ()
) -> tuple[Path, Path]:
    """Write the HTML report at ``html_path`` and the JSON report beside it (``.json``).

    Returns:
        The two paths written.
    """
    html_path = Path(html_path)
    json_path = html_path.with_suffix(".json")
    _atomic_write(html_path, render_monitor_html(result, history))
    document = {"kind": "conveyor.monitor_report", **result.to_dict()}
    _atomic_write(json_path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    return html_path, json_path
