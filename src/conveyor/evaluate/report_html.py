"""The self-contained HTML evaluation report: one file, plotly.js inline once, no network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conveyor.evaluate import plots
from conveyor.evaluate._common import redact_run_info, to_jsonable
from conveyor.evaluate._html import (
    bullet_list,
    cell,
    esc,
    fmt,
    muted,
    page,
    raw_cell,
    section,
    table,
)
from conveyor.evaluate.evaluation import Evaluation
from conveyor.evaluate.metrics import greater_is_better, metric_names

__all__ = ["render_html_report"]

_SLICE_COLUMNS = {
    "binary": ("accuracy", "precision", "recall"),
    "multiclass": ("accuracy", "f1_macro"),
    "regression": ("rmse", "mae", "r2"),
}


class _Figures:
    """Turns figures into ``<div>``s with stable ids, so equal inputs give equal HTML."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: Any) -> str:
        self.count += 1
        return f'<div class="plot">{plots.figure_html(fig, div_id=f"plot-{self.count}")}</div>'


def render_html_report(
    evaluations: Sequence[Evaluation],
    *,
    title: str,
    leaderboard: list[dict[str, Any]],
    run_info: dict[str, Any],
    tuning: dict[str, list[dict[str, Any]]] | None = None,
    curves: dict[str, dict[str, list[float]]] | None = None,
) -> str:
    """Render the evaluation report as one offline HTML page.

    Args:
        evaluations: one :class:`Evaluation` per model, in display order.
        title: the page title.
        leaderboard: one dict per model, best first; the row with a truthy
            ``"winner"`` key (else the first row) is highlighted.
        run_info: run facts shown in the summary (run id, dataset version,
            timestamps…); keys that look like secrets are masked.
        tuning: model name -> Optuna trials as dicts (``number``, ``value``,
            ``params``, ``state``, optional ``direction``).
        curves: model name -> per-iteration training curves (``{"valid_loss": [...]}``);
            they extend :attr:`Evaluation.curves`.

    Returns:
        The HTML text. Every user-provided string is escaped; plotly.js is
        inlined once in ``<head>`` when there is at least one plot.
    """
    figures = _Figures()
    tuning, curves = tuning or {}, curves or {}
    models_html = [
        _model_section(i, ev, figures, tuning.get(ev.model_name), curves.get(ev.model_name))
        for i, ev in enumerate(evaluations)
    ]
    nav = ['<a href="#summary">Summary</a>', '<a href="#leaderboard">Leaderboard</a>']
    nav += [f'<a href="#model-{i}">{esc(ev.model_name)}</a>' for i, ev in enumerate(evaluations)]
    body = "".join(
        [
            _summary(run_info, evaluations),
            _leaderboard(leaderboard),
            *models_html,
        ]
    )
    subtitle = f"Conveyor evaluation report · {len(evaluations)} model(s)"
    return page(title, subtitle, body, nav="".join(nav), plots=bool(figures.count))


def _summary(run_info: Mapping[str, Any], evaluations: Sequence[Evaluation]) -> str:
    info = redact_run_info(run_info)
    rows = [[raw_cell(esc(k)), raw_cell(fmt(to_jsonable(v)))] for k, v in info.items()]
    body = table(["run", ""], rows) if rows else muted("No run information.")
    if evaluations:
        verdicts = [
            [
                raw_cell(esc(ev.model_name)),
                raw_cell(esc(ev.primary_metric)),
                cell(ev.metrics.get(ev.primary_metric)),
                _verdict(ev.beats_baseline),
                _verdict(ev.gates.passed),
                cell(len(ev.warnings)),
            ]
            for ev in evaluations
        ]
        body += "<h3>Models</h3>" + table(
            ["model", "primary metric", "test value", "beats baseline", "gates", "warnings"],
            verdicts,
        )
    return section("summary", "Run summary", body)


def _leaderboard(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return section("leaderboard", "Leaderboard", muted("No leaderboard."))
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k != "winner" and k not in columns]
    flagged = [i for i, row in enumerate(rows) if row.get("winner")]
    winner = flagged[0] if flagged else 0
    body_rows = [[cell(to_jsonable(row.get(c))) for c in columns] for row in rows]
    classes = ["winner" if i == winner else "" for i in range(len(rows))]
    note = muted("The highlighted row is the winner.")
    return section(
        "leaderboard", "Leaderboard", table(columns, body_rows, row_classes=classes) + note
    )


def _verdict(ok: bool) -> str:
    return raw_cell("pass" if ok else "fail", cls="pass" if ok else "fail")


def _model_section(
    index: int,
    ev: Evaluation,
    figures: _Figures,
    trials: list[dict[str, Any]] | None,
    extra_curves: Mapping[str, list[float]] | None,
) -> str:
    parts = [
        f"<p>{'Beats' if ev.beats_baseline else 'Does <b>not</b> beat'} the baseline: "
        f"{esc(ev.baseline_reason)}</p>",
        _metrics_table(ev),
        _gates(ev),
        _threshold(ev),
        _diagnostic_plots(ev, figures),
    ]
    series = dict(ev.curves or {}) | dict(extra_curves or {})
    if series:
        parts.append(
            "<h3>Training curves</h3>" + figures.html(plots.training_curves_figure(series))
        )
    if trials:
        maximize = _tuning_maximizes(trials, ev.primary_metric)
        parts.append(
            "<h3>Tuning history</h3>"
            + figures.html(plots.tuning_figure(trials, maximize=maximize))
            + _best_trial(trials, maximize=maximize)
        )
    if ev.importance:
        fig = plots.importance_figure(ev.importance, metric=ev.primary_metric)
        parts.append(
            "<h3>Permutation importance (raw columns, test split)</h3>" + figures.html(fig)
        )
    parts += [_slices(ev), _cv(ev), _warnings(ev)]
    return section(f"model-{index}", f"Model: {ev.model_name}", "".join(parts))


def _metrics_table(ev: Evaluation) -> str:
    names = [m for m in metric_names(ev.task) if m in ev.metrics or m in ev.baseline_metrics]
    names += [m for m in ev.metrics if m not in names]
    rows, classes = [], []
    for m in names:
        test, base = ev.metrics.get(m), ev.baseline_metrics.get(m)
        delta = None if test is None or base is None else test - base
        tone = ""
        if delta:
            tone = "better" if (delta > 0) == greater_is_better(m) else "worse"
        rows.append(
            [
                raw_cell(esc(m) + (" (primary)" if m == ev.primary_metric else "")),
                cell(test),
                cell(ev.train_metrics.get(m)),
                cell(base),
                raw_cell("—" if delta is None else f"{delta:+.4g}", cls=tone),
            ]
        )
        classes.append("primary" if m == ev.primary_metric else "")
    header = ["metric", "test", "train", "baseline (test)", "test − baseline"]
    return "<h3>Metrics vs baseline</h3>" + table(header, rows, row_classes=classes)


def _gates(ev: Evaluation) -> str:
    if not ev.gates.results:
        return "<h3>Gates</h3>" + muted("No gates configured.")
    rows = [
        [
            raw_cell(esc(r["metric"])),
            raw_cell(f"{esc(r['op'])} {fmt(r['threshold'])}"),
            cell(r["value"]),
            _verdict(r["passed"]),
        ]
        for r in ev.gates.results
    ]
    status = '<p class="pass">All gates passed.</p>' if ev.gates.passed else ""
    return (
        "<h3>Gates</h3>"
        + table(["metric", "gate", "test value", "result"], rows)
        + status
        + bullet_list(ev.gates.failed, cls="warnings")
    )


def _threshold(ev: Evaluation) -> str:
    th = ev.threshold
    if th is None:
        return ""
    rows = [
        [raw_cell("threshold"), cell(th.threshold)],
        [raw_cell("rule applied"), raw_cell(esc(th.rule))],
        [raw_cell("rule requested"), raw_cell(esc(th.requested or th.rule))],
        [raw_cell("positive class"), raw_cell(esc(ev.positive_class))],
    ]
    rows += [[raw_cell(f"{esc(k)} (threshold data)"), cell(v)] for k, v in th.achieved.items()]
    note = muted(th.note) if th.note else ""
    return "<h3>Decision threshold</h3>" + table(["", ""], rows) + note


def _diagnostic_plots(ev: Evaluation, figures: _Figures) -> str:
    d = ev.details or {}
    divs: list[str] = []
    if ev.task == "regression":
        if not d.get("actual"):
            return ""
        summary = d.get("residual_summary") or {}
        rows = [[raw_cell(esc(k)), cell(v)] for k, v in summary.items()]
        shown = len(d["actual"])
        if d.get("sampled"):
            where = f"Plots show a random sample of {shown} of the {d.get('rows')} test rows."
        else:
            where = f"Plots show all {shown} test rows."
        divs += [
            figures.html(plots.residuals_figure(d)),
            figures.html(plots.predicted_vs_actual_figure(d)),
        ]
        return (
            "<h3>Residuals (predicted − actual)</h3>"
            + table(["statistic", "value"], rows)
            + muted(where)
            + f'<div class="grid">{"".join(divs)}</div>'
        )
    if d.get("confusion_matrix"):
        divs.append(figures.html(plots.confusion_matrix_figure(d["confusion_matrix"])))
    if d.get("roc"):
        divs.append(figures.html(plots.roc_figure(d["roc"])))
    if d.get("pr"):
        divs.append(figures.html(plots.pr_figure(d["pr"])))
    if d.get("calibration"):
        divs.append(figures.html(plots.calibration_figure(d["calibration"])))
    if not divs:
        return ""
    return f'<h3>Test-split diagnostics</h3><div class="grid">{"".join(divs)}</div>'


def _best_trial(trials: list[dict[str, Any]], *, maximize: bool) -> str:
    done = [t for t in trials if t.get("value") is not None]
    if not done:
        return muted(f"{len(trials)} trial(s), none finished with a value.")
    pick = max if maximize else min
    best = pick(done, key=lambda t: float(t["value"]))
    params = fmt(to_jsonable(best.get("params") or {}))
    return (
        f'<p class="muted">{len(trials)} trial(s), {len(done)} with a value; best: trial '
        f"{fmt(best.get('number'))} with {fmt(float(best['value']))}, params {params}</p>"
    )


def _tuning_maximizes(trials: list[dict[str, Any]], primary_metric: str) -> bool:
    direction = next((t.get("direction") for t in trials if t.get("direction")), None)
    if direction is not None:
        return str(direction).lower().startswith("max")
    return greater_is_better(primary_metric)


def _slices(ev: Evaluation) -> str:
    if not ev.slices:
        return ""
    shown = [ev.primary_metric] + [m for m in _SLICE_COLUMNS[ev.task] if m != ev.primary_metric]
    out = ["<h3>Slice metrics (test split)</h3>"]
    for column, entries in ev.slices.items():
        rows = [
            [raw_cell(esc(e["value"])), cell(e["rows"])]
            + [cell(e["metrics"].get(m)) for m in shown]
            + [raw_cell(esc("; ".join(e.get("notes") or [])), cls="muted")]
            for e in entries
        ]
        out.append(f"<p><b>{esc(column)}</b></p>")
        out.append(table(["value", "rows", *shown, "notes"], rows))
    return "".join(out)


def _cv(ev: Evaluation) -> str:
    if not ev.cv:
        return ""
    rows = [
        [
            raw_cell(esc(m)),
            cell(s.get("mean")),
            cell(s.get("std")),
            raw_cell(", ".join(fmt(v) for v in s.get("folds", []))),
        ]
        for m, s in ev.cv.items()
    ]
    title = f"<h3>Cross-validation ({len(next(iter(ev.cv.values()))['folds'])} folds, training split)</h3>"
    return title + table(["metric", "mean", "std", "folds"], rows)


def _warnings(ev: Evaluation) -> str:
    out = "<h3>Warnings</h3>" + (
        bullet_list(ev.warnings, cls="warnings") if ev.warnings else muted("None.")
    )
    if ev.notes:
        out += (
            f"<details><summary>Notes ({len(ev.notes)})</summary>{bullet_list(ev.notes)}</details>"
        )
    return out
