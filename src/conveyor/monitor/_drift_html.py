"""Drift as HTML: per-column reference-versus-current plots and the ``conveyor drift`` page.

:func:`distribution_figures` is shared with the monitor report; :func:`render_drift_html`
is the self-contained page (plotly.js inline once, no network) of ``conveyor drift --report``.
"""

from __future__ import annotations

import itertools
from html import escape
from typing import Any

from conveyor.evaluate import plots
from conveyor.evaluate._html import cell, esc, muted, page, raw_cell, section, table
from conveyor.monitor._drift_result import ColumnDrift, DriftReport

__all__ = ["column_figure", "distribution_figures", "drift_table_html", "render_drift_html"]

_REFERENCE_COLOR = "#3b6ea8"
_CURRENT_COLOR = "#d9822b"
_MAX_CATEGORIES = 30  # a plot shows the most frequent reference categories, then "other"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _bins(hist: dict[str, Any]) -> tuple[list[str], list[float]]:
    """Labels and counts of a histogram dict (numeric edges or categories), missing last."""
    counts = [float(c) for c in hist.get("counts", [])]
    if "edges" in hist:
        edges = hist["edges"]
        if len(edges) < 2:
            labels = ["values"] if counts else []
        else:
            labels = [
                _number(a) if a == b else f"{_number(a)} – {_number(b)}"
                for a, b in itertools.pairwise(edges)
            ]
    else:
        labels = [str(c) for c in hist.get("categories", [])]
        if len(labels) > _MAX_CATEGORIES + 1:  # keep the top ones, fold the rest into "other"
            counts = [*counts[:_MAX_CATEGORIES], sum(counts[_MAX_CATEGORIES:])]
            labels = [*labels[:_MAX_CATEGORIES], "other categories"]
    return [*labels, "(missing)"], [*counts, float(hist.get("missing", 0))]


def _shares(counts: list[float]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def column_figure(column: ColumnDrift, *, height: int = 320) -> dict[str, Any]:
    """Grouped bars: the share of reference and current rows per bin or category.

    A plain figure dict, like :mod:`conveyor.evaluate.plots` builds.
    """
    labels, ref_counts = _bins(column.reference_hist)
    _, cur_counts = _bins(column.current_hist)
    if "categories" in column.reference_hist or labels[-1:] == ["(missing)"]:
        # empty on both sides: no bar to show (a category, "__other__" or "(missing)")
        keep = [
            i for i in range(len(labels))
            if ref_counts[i] or cur_counts[i] or (labels[i] != "(missing)" and "edges" in column.reference_hist)
        ]  # fmt: skip
        labels = [labels[i] for i in keep]
        ref_counts = [ref_counts[i] for i in keep]
        cur_counts = [cur_counts[i] for i in keep]
    safe = [escape(label) for label in labels]
    verdict = "drifted" if column.drifted else "no drift"
    title = (
        f"{escape(column.column)} — {escape(column.method)} {_number(column.statistic)} "
        f"(threshold {_number(column.threshold)}): {verdict}"
    )
    bar = {"type": "bar", "x": safe}
    return {
        "data": [
            {**bar, "y": _shares(ref_counts), "name": "reference",
             "marker": {"color": _REFERENCE_COLOR}},
            {**bar, "y": _shares(cur_counts), "name": "current",
             "marker": {"color": _CURRENT_COLOR}},
        ],
        "layout": {
            "template": {},
            "barmode": "group",
            "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 13}},
            "height": height,
            "margin": {"l": 50, "r": 20, "t": 40, "b": 90},
            "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 11},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "legend": {"orientation": "h", "y": 1.02, "x": 1.0, "xanchor": "right",
                       "yanchor": "bottom"},
            "xaxis": {"type": "category", "tickangle": -40, "automargin": True},
            "yaxis": {"title": {"text": "share of rows"}, "gridcolor": "#eeeeee",
                      "tickformat": ".0%"},
        },
    }  # fmt: skip


def distribution_figures(report: DriftReport) -> list[dict[str, Any]]:
    """One figure per column, drifted columns first, then the prediction (if any)."""
    ordered = sorted(report.columns, key=lambda c: not c.drifted)
    if report.prediction is not None:
        ordered.append(report.prediction)
    return [column_figure(c) for c in ordered]


def drift_table_html(report: DriftReport) -> str:
    """The per-column table (column, kind, method, statistic, threshold, p-value, result)."""
    columns = [*report.columns, *([report.prediction] if report.prediction else [])]
    rows = [
        [
            raw_cell(
                esc(c.column)
                + (" <span class='muted'>(prediction)</span>" if c is report.prediction else "")
            ),
            raw_cell(esc(c.kind)),
            raw_cell(esc(c.method)),
            cell(c.statistic),
            cell(c.threshold),
            cell(c.p_value),
            cell(c.missing_rate_reference),
            cell(c.missing_rate_current),
            raw_cell(
                "drifted" + (" (missing rate)" if c.missing_drifted else "") if c.drifted else "ok",
                cls="fail" if c.drifted else "pass",
            ),
        ]
        for c in columns
    ]
    header = ["column", "kind", "method", "statistic", "threshold", "p-value",
              "missing (reference)", "missing (current)", "result"]  # fmt: skip
    return table(header, rows)


def render_drift_html(
    report: DriftReport, *, title: str = "Drift report", reference: str = "", current: str = ""
) -> str:
    """The whole drift page as one offline HTML file.

    Example:
        >>> Path("drift.html").write_text(render_drift_html(report, title="jan vs feb"))  # doctest: +SKIP
    """
    verdict = "dataset drift" if report.dataset_drift else "no dataset drift"
    drifted = len(report.drifted_columns())
    summary = (
        f"<p><b>{esc(verdict)}</b>: {drifted} of {len(report.columns)} column(s) drifted "
        f"(share {report.share:.3g}, dataset drift above {report.share_threshold:.3g}); "
        f"{report.n_current:,} current rows.</p>"
    )
    if reference or current:
        summary += muted(f"reference: {reference} · current: {current}")
    if report.skipped:
        summary += muted(
            "not compared: " + "; ".join(f"{k} ({v})" for k, v in report.skipped.items())
        )
    figures = "".join(
        f'<div class="plot">{plots.figure_html(fig, div_id=f"drift-{i}")}</div>'
        for i, fig in enumerate(distribution_figures(report))
    )
    body = section("summary", "Summary", summary + drift_table_html(report)) + section(
        "distributions", "Reference versus current", f'<div class="grid">{figures}</div>'
    )
    return page(title, "Conveyor drift report", body, plots=bool(figures))
