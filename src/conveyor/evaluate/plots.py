"""Plotly figures for the evaluation report, built from JSON-ready evaluation data.

A figure is the plain dict plotly.js draws, ``{"data": [traces], "layout": {...}}``:
building ``plotly.graph_objects`` figures validates every property and cost
~20 ms a figure, a quarter of a second per report. The dicts follow Plotly's
schema; :func:`figure_html` and :func:`figure_json` render them.

Every text that may come from users or data (model names, class labels,
feature names) is HTML-escaped before it reaches Plotly, because Plotly
renders a small subset of HTML in titles, labels and hover text.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = [
    "calibration_figure",
    "confusion_matrix_figure",
    "figure_html",
    "figure_json",
    "figure_title",
    "importance_figure",
    "line_trace",
    "new_figure",
    "pr_figure",
    "predicted_vs_actual_figure",
    "residuals_figure",
    "roc_figure",
    "training_curves_figure",
    "tuning_figure",
]

Figure = dict[str, Any]

_HEIGHT = 360
_COLORS = ("#3b6ea8", "#d9822b", "#3a9a5b", "#b5443b", "#7d5ba6", "#8c6d4f", "#c25a9c", "#6b6b6b")
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
_DIAGONAL = {"dash": "dot", "color": "#aaaaaa"}


def new_figure(title: str, *, x: str, y: str, height: int = _HEIGHT) -> Figure:
    """An empty figure in the report's style; append traces to ``fig["data"]``."""
    # A tiny explicit layout instead of a named template: the default template
    # adds ~5 kB of JSON to every figure in the report.
    return {
        "data": [],
        "layout": {
            "template": {},
            "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 14}},
            "height": height,
            "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
            "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "colorway": list(_COLORS),
            "legend": {"orientation": "h", "y": -0.2},
            "xaxis": {"title": {"text": x}, "gridcolor": "#eeeeee", "zeroline": False},
            "yaxis": {"title": {"text": y}, "gridcolor": "#eeeeee", "zeroline": False},
        },
    }


def _array(values: Sequence[float | None]) -> Any:
    # numpy arrays are embedded as base64 typed arrays: far smaller than JSON number lists.
    import numpy as np

    return np.array([np.nan if v is None else v for v in values], dtype=float)


def figure_title(fig: Figure) -> str:
    """The figure's title text."""
    return str(fig["layout"]["title"]["text"])


def figure_json(fig: Figure) -> Figure:
    """The figure as plain JSON values: numeric numpy arrays become base64 typed arrays."""
    return _jsonable(fig)


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf" or value.size == 0:
            return value.tolist()
        # plotly.js typed array spec: little-endian float64, base64-encoded.
        data = np.ascontiguousarray(value, dtype="<f8")
        spec = {"dtype": "f8", "bdata": base64.b64encode(data.tobytes()).decode("ascii")}
        if value.ndim > 1:
            spec["shape"] = ", ".join(str(n) for n in value.shape)
        return spec
    if isinstance(value, np.generic):
        return value.item()
    return value


def figure_html(fig: Figure | Any, *, div_id: str) -> str:
    """The figure (a dict, or a ``plotly.graph_objects.Figure``) as an HTML fragment that
    expects plotly.js already on the page."""
    import plotly.io as pio

    return str(
        pio.to_html(
            figure_json(fig) if isinstance(fig, Mapping) else fig,
            validate=False,
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config=_PLOT_CONFIG,
        )
    )


def _axes(fig: Figure, axis: str, **settings: Any) -> None:
    fig["layout"][axis].update(settings)


def line_trace(x: Any, y: Any, name: str, *, mode: str = "lines", **extra: Any) -> dict[str, Any]:
    """A scatter trace (lines by default); ``extra`` holds further trace properties."""
    return {"type": "scatter", "x": x, "y": y, "mode": mode, "name": name, **extra}


def confusion_matrix_figure(
    confusion: Mapping[str, Any], *, title: str = "Confusion matrix"
) -> Figure:
    """Heat map of counts: rows are actual classes, columns predicted classes."""
    labels = [escape(str(label)) for label in confusion["labels"]]
    matrix = confusion["matrix"]
    fig = new_figure(title, x="predicted", y="actual", height=max(_HEIGHT, 60 + 40 * len(labels)))
    fig["data"].append(
        {
            "type": "heatmap",
            "z": matrix,
            "x": labels,
            "y": labels,
            "colorscale": "Blues",
            "text": [[str(v) for v in row] for row in matrix],
            "texttemplate": "%{text}",
            "hovertemplate": "actual %{y}<br>predicted %{x}<br>%{z} rows<extra></extra>",
            "showscale": False,
        }
    )
    _axes(fig, "yaxis", autorange="reversed", type="category")
    _axes(fig, "xaxis", type="category")
    return fig


def _unit_square(fig: Figure) -> Figure:
    _axes(fig, "xaxis", range=[0, 1])
    _axes(fig, "yaxis", range=[0, 1.02])
    return fig


def roc_figure(curves: Sequence[Mapping[str, Any]], *, title: str = "ROC curve") -> Figure:
    fig = new_figure(title, x="false positive rate", y="true positive rate")
    fig["data"].append(line_trace([0, 1], [0, 1], "chance", line=_DIAGONAL))
    for curve in curves:
        name = f"{escape(str(curve['label']))} (AUC {curve['auc']:.3f})"
        fig["data"].append(line_trace(curve["fpr"], curve["tpr"], name))
    return _unit_square(fig)


def pr_figure(
    curves: Sequence[Mapping[str, Any]], *, title: str = "Precision-recall curve"
) -> Figure:
    fig = new_figure(title, x="recall", y="precision")
    for curve in curves:
        name = f"{escape(str(curve['label']))} (AP {curve['average_precision']:.3f})"
        fig["data"].append(line_trace(curve["recall"], curve["precision"], name))
    return _unit_square(fig)


def calibration_figure(
    curves: Sequence[Mapping[str, Any]], *, title: str = "Calibration (10 bins)"
) -> Figure:
    fig = new_figure(title, x="mean predicted probability", y="observed frequency")
    fig["data"].append(line_trace([0, 1], [0, 1], "perfectly calibrated", line=_DIAGONAL))
    for curve in curves:
        fig["data"].append(
            line_trace(
                curve["prob_pred"],
                curve["prob_true"],
                escape(str(curve["label"])),
                mode="lines+markers",
                customdata=curve.get("counts"),
                hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows"
                "<extra></extra>",
            )
        )
    return _unit_square(fig)


def _points(x: Any, y: Any) -> dict[str, Any]:
    return {
        "type": "scattergl",
        "x": _array(x),
        "y": _array(y),
        "mode": "markers",
        "marker": {"size": 4, "opacity": 0.5},
        "name": "rows",
    }


def residuals_figure(details: Mapping[str, Any], *, title: str = "Residuals") -> Figure:
    """Residual (predicted - actual) against predicted value, with a zero line."""
    fig = new_figure(title, x="predicted", y="residual (predicted - actual)")
    fig["data"].append(_points(details["predicted"], details["residual"]))
    fig["layout"]["shapes"] = [
        {
            "type": "line",
            "xref": "x domain",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": 0,
            "y1": 0,
            "line": {"color": "#888888", "dash": "dot"},
        }
    ]
    return fig


def predicted_vs_actual_figure(
    details: Mapping[str, Any], *, title: str = "Predicted vs actual"
) -> Figure:
    fig = new_figure(title, x="actual", y="predicted")
    actual = [v for v in details["actual"] if v is not None]
    fig["data"].append(_points(details["actual"], details["predicted"]))
    if actual:
        lo, hi = min(actual), max(actual)
        fig["data"].append(line_trace([lo, hi], [lo, hi], "perfect", line=_DIAGONAL))
    return fig


def training_curves_figure(
    curves: Mapping[str, Sequence[float | None]], *, title: str = "Training curves"
) -> Figure:
    """One line per recorded series (e.g. validation loss) over boosting iterations."""
    fig = new_figure(title, x="iteration", y="value")
    for name, values in curves.items():
        fig["data"].append(
            line_trace(list(range(1, len(values) + 1)), list(values), escape(str(name)))
        )
    return fig


def tuning_figure(
    trials: Sequence[Mapping[str, Any]],
    *,
    maximize: bool,
    title: str = "Tuning history",
) -> Figure:
    """Trial value over trial number, plus the best value so far."""
    fig = new_figure(title, x="trial", y="objective value")
    numbers, values, best, best_so_far = [], [], [], None
    for i, trial in enumerate(trials):
        value = trial.get("value")
        if value is None:
            continue
        number = trial.get("number", i)
        numbers.append(number)
        values.append(float(value))
        if best_so_far is None or (value > best_so_far if maximize else value < best_so_far):
            best_so_far = float(value)
        best.append(best_so_far)
    fig["data"].append(line_trace(numbers, values, "trial", mode="markers", marker={"size": 7}))
    fig["data"].append(line_trace(numbers, best, "best so far", line={"shape": "hv"}))
    return fig


def importance_figure(
    table: Sequence[Mapping[str, Any]], *, metric: str, top: int = 20,
    title: str = "Permutation importance",
) -> Figure:  # fmt: skip
    """Horizontal bars of the ``top`` most important raw columns, with one std as error bars."""
    rows = list(table)[:top]
    fig = new_figure(
        title,
        x=f"drop in {escape(metric)} when shuffled",
        y="",
        height=max(_HEIGHT, 80 + 22 * len(rows)),
    )
    fig["data"].append(
        {
            "type": "bar",
            "x": [r["importance_mean"] for r in rows],
            "y": [escape(str(r["feature"])) for r in rows],
            "error_x": {"type": "data", "array": [r["importance_std"] for r in rows]},
            "orientation": "h",
            "name": "importance",
        }
    )
    _axes(fig, "yaxis", autorange="reversed", type="category")
    return fig
