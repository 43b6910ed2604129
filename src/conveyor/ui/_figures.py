"""Plotly figures for the dashboard, as JSON for the bundled plotly.js to draw.

Run plots come from the evaluation report JSON the run wrote
(:mod:`conveyor.evaluate.report_json`) and are drawn with the same figure
builders as the HTML report (:mod:`conveyor.evaluate.plots`), so the dashboard
and the report agree. Plotly is imported on first use only.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

__all__ = [
    "compare_figures",
    "figure_json",
    "heatmap_figure",
    "load_report",
    "run_figures",
    "series_figure",
]

_MAX_REPORT_BYTES = 64 * 1024 * 1024
_cache: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 32


def load_report(recorded: str | None, *, root: Path, run_id: str) -> tuple[dict | None, str]:
    """The evaluation report of a run and where it was looked for.

    Reports live in the project, at ``.conveyor/reports/<run>/report.json``. Only
    that folder is read: the recorded path comes from the store, and the
    dashboard must not become a way to read any file on the machine. A run that
    reused a cached evaluation recorded the report of the run that made it, so
    that run's folder is tried too.

    Returns:
        ``(report or None, path looked at first)``.
    """
    reports = root / ".conveyor" / "reports"
    candidates = [reports / run_id / "report.json"]
    if recorded:
        made_by = Path(recorded).parent.name
        if made_by and made_by != run_id and made_by not in (".", ".."):
            candidates.append(reports / made_by / "report.json")
    for path in candidates:
        try:
            stat = path.stat()
        except OSError:
            continue
        if not path.is_file() or stat.st_size > _MAX_REPORT_BYTES:
            continue
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key], str(path)
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(report, dict):
            continue
        with _cache_lock:
            _cache[key] = report
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return report, str(path)
    return None, str(candidates[0])


def figure_json(fig: Any) -> dict[str, Any]:
    """``{"data": [...], "layout": {...}}`` as plain JSON (arrays as base64 typed arrays).

    ``fig`` is a ``plotly.graph_objects.Figure`` or a figure dict of
    :mod:`conveyor.evaluate.plots`.
    """
    if isinstance(fig, Mapping):
        from conveyor.evaluate.plots import figure_json as plain

        data = plain(fig)
    else:
        data = json.loads(fig.to_json())
    return {"data": data.get("data", []), "layout": data.get("layout", {})}


def _entry(fig_id: str, title: str, fig: Any) -> dict[str, Any]:
    return {"id": fig_id, "title": title, "figure": figure_json(fig)}


def _maximize(trials: Sequence[Mapping[str, Any]], primary: str | None) -> bool:
    from conveyor.evaluate import greater_is_better

    direction = next((t.get("direction") for t in trials if t.get("direction")), None)
    if direction is not None:
        return str(direction).lower().startswith("max")
    try:
        return greater_is_better(primary) if primary else True
    except Exception:  # an unknown metric name: assume a score
        return True


def run_figures(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The winner's diagnostic plots, tuning histories and training curves of one report."""
    from conveyor.evaluate import plots

    models = [m for m in report.get("models") or [] if isinstance(m, Mapping)]
    out: list[dict[str, Any]] = []
    if models:
        winner = models[0]
        d = winner.get("details") or {}
        name = escape(str(winner.get("model_name", "model")))
        builders = [
            ("confusion", "confusion_matrix", plots.confusion_matrix_figure),
            ("roc", "roc", plots.roc_figure),
            ("pr", "pr", plots.pr_figure),
            ("calibration", "calibration", plots.calibration_figure),
        ]
        for fig_id, key, build in builders:
            if d.get(key):
                fig = build(d[key])
                out.append(_entry(fig_id, f"{name}: {plots.figure_title(fig)}", fig))
        if winner.get("task") == "regression" and d.get("actual"):
            out.append(_entry("residuals", "Residuals", plots.residuals_figure(d)))
            out.append(
                _entry("predicted", "Predicted vs actual", plots.predicted_vs_actual_figure(d))
            )
        importance = winner.get("importance")
        if isinstance(importance, list) and importance:
            metric = str(winner.get("primary_metric") or "")
            fig = plots.importance_figure(importance, metric=metric)
            out.append(_entry("importance", "Permutation importance", fig))
    primary = (report.get("winner") or {}).get("primary_metric") or (
        models[0].get("primary_metric") if models else None
    )
    for model, trials in (report.get("tuning") or {}).items():
        if trials:
            title = f"Tuning history: {escape(str(model))}"
            fig = plots.tuning_figure(trials, maximize=_maximize(trials, primary), title=title)
            out.append(_entry(f"tuning-{len(out)}", title, fig))
    curves: dict[str, Any] = {}
    for m in models:
        if m.get("curves"):
            curves[str(m.get("model_name"))] = m["curves"]
    curves.update({str(k): v for k, v in (report.get("curves") or {}).items() if v})
    for model, series in curves.items():
        if isinstance(series, Mapping) and series:
            title = f"Training curves: {escape(model)}"
            fig = plots.training_curves_figure(series, title=title)
            out.append(_entry(f"curves-{len(out)}", title, fig))
    return out


def compare_figures(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Curves of several runs overlaid: ROC and PR of each winner, tuning best-so-far."""
    from conveyor.evaluate import plots

    roc, pr, tuning = [], [], []
    for run_id, report in reports:
        models = report.get("models") or []
        if not models:
            continue
        winner = models[0]
        details = winner.get("details") or {}
        label = f"{run_id} {winner.get('model_name', '')}".strip()
        for curve in details.get("roc") or []:
            roc.append({**curve, "label": f"{label} {curve.get('label', '')}".strip()})
        for curve in details.get("pr") or []:
            pr.append({**curve, "label": f"{label} {curve.get('label', '')}".strip()})
        for model, trials in (report.get("tuning") or {}).items():
            if trials:
                tuning.append((f"{run_id} {model}", trials, winner.get("primary_metric")))
    out = []
    if roc:
        out.append(_entry("roc", "ROC curves", plots.roc_figure(roc, title="ROC curves")))
    if pr:
        out.append(
            _entry("pr", "Precision-recall curves", plots.pr_figure(pr, title="Precision-recall"))
        )
    if tuning:
        out.append(_entry("tuning", "Tuning, best value so far", _best_so_far(tuning)))
    return out


def _best_so_far(studies: list[tuple[str, list[dict[str, Any]], str | None]]) -> Any:
    import plotly.graph_objects as go

    fig = series_figure("Tuning, best value so far", x="trial", y="best objective value")
    for label, trials, primary in studies:
        maximize = _maximize(trials, primary)
        xs, ys, best = [], [], None
        for i, t in enumerate(trials):
            value = t.get("value")
            if value is None:
                continue
            value = float(value)
            best = value if best is None or (value > best if maximize else value < best) else best
            xs.append(t.get("number", i))
            ys.append(best)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines", line={"shape": "hv"}, name=escape(label))
        )
    return fig


def series_figure(title: str, *, x: str, y: str, height: int = 340) -> Any:
    """An empty figure in the report's style, to add line traces to."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(
        template="none",
        title={"text": escape(title), "x": 0.0, "xanchor": "left", "font": {"size": 14}},
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        legend={"orientation": "h", "y": -0.25},
        xaxis={"title": {"text": escape(x)}, "gridcolor": "#eeeeee", "zeroline": False},
        yaxis={"title": {"text": escape(y)}, "gridcolor": "#eeeeee", "zeroline": False},
    )
    return fig


def heatmap_figure(
    title: str,
    *,
    x: Sequence[Any],
    y: Sequence[str],
    z: Sequence[Sequence[float | None]],
    colorbar: str,
    text: Sequence[Sequence[str]] | None = None,
) -> Any:
    """A heat map (rows ``y``, columns ``x``), e.g. drift per feature over time."""
    import plotly.graph_objects as go

    fig = series_figure(title, x="", y="", height=max(260, 80 + 24 * len(y)))
    fig.add_trace(
        go.Heatmap(
            x=list(x),
            y=[escape(str(v)) for v in y],
            z=[list(row) for row in z],
            text=None if text is None else [list(r) for r in text],
            colorscale="YlOrRd",
            colorbar={"title": {"text": escape(colorbar)}},
            hoverongaps=False,
        )
    )
    fig.update_yaxes(type="category", automargin=True)
    return fig
