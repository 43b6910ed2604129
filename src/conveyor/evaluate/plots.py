"""Plotly figures for the evaluation report, built from JSON-ready evaluation data.

Every text that may come from users or data (model names, class labels,
feature names) is HTML-escaped before it reaches Plotly, because Plotly
renders a small subset of HTML in titles, labels and hover text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = [
    "calibration_figure",
    "confusion_matrix_figure",
    "figure_html",
    "importance_figure",
    "pr_figure",
    "predicted_vs_actual_figure",
    "residuals_figure",
    "roc_figure",
    "training_curves_figure",
    "tuning_figure",
]

_HEIGHT = 360
_COLORS = ("#3b6ea8", "#d9822b", "#3a9a5b", "#b5443b", "#7d5ba6", "#8c6d4f", "#c25a9c", "#6b6b6b")
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _figure(title: str, *, x: str, y: str, height: int = _HEIGHT) -> Any:
    go = _go()
    fig = go.Figure()
    # A tiny explicit layout instead of a named template: the default template
    # adds ~5 kB of JSON to every figure in the report.
    fig.update_layout(
        template="none",
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 14}},
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(_COLORS),
        legend={"orientation": "h", "y": -0.2},
        xaxis={"title": {"text": x}, "gridcolor": "#eeeeee", "zeroline": False},
        yaxis={"title": {"text": y}, "gridcolor": "#eeeeee", "zeroline": False},
    )
    return fig


def _array(values: Sequence[float | None]) -> Any:
    # numpy arrays are embedded as base64 typed arrays: far smaller than JSON number lists.
    import numpy as np

    return np.array([np.nan if v is None else v for v in values], dtype=float)


def figure_html(fig: Any, *, div_id: str) -> str:
    """The figure as an HTML fragment that expects plotly.js already on the page."""
    return str(
        fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_PLOT_CONFIG)
    )


def confusion_matrix_figure(
    confusion: Mapping[str, Any], *, title: str = "Confusion matrix"
) -> Any:
    """Heat map of counts: rows are actual classes, columns predicted classes."""
    labels = [escape(str(label)) for label in confusion["labels"]]
    matrix = confusion["matrix"]
    go = _go()
    fig = _figure(title, x="predicted", y="actual", height=max(_HEIGHT, 60 + 40 * len(labels)))
    fig.add_trace(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            text=[[str(v) for v in row] for row in matrix],
            texttemplate="%{text}",
            hovertemplate="actual %{y}<br>predicted %{x}<br>%{z} rows<extra></extra>",
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def roc_figure(curves: Sequence[Mapping[str, Any]], *, title: str = "ROC curve") -> Any:
    go = _go()
    fig = _figure(title, x="false positive rate", y="true positive rate")
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                   line={"dash": "dot", "color": "#aaaaaa"})
    )  # fmt: skip
    for curve in curves:
        fig.add_trace(
            go.Scatter(
                x=curve["fpr"],
                y=curve["tpr"],
                mode="lines",
                name=f"{escape(str(curve['label']))} (AUC {curve['auc']:.3f})",
            )
        )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def pr_figure(curves: Sequence[Mapping[str, Any]], *, title: str = "Precision-recall curve") -> Any:
    go = _go()
    fig = _figure(title, x="recall", y="precision")
    for curve in curves:
        fig.add_trace(
            go.Scatter(
                x=curve["recall"],
                y=curve["precision"],
                mode="lines",
                name=f"{escape(str(curve['label']))} (AP {curve['average_precision']:.3f})",
            )
        )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def calibration_figure(
    curves: Sequence[Mapping[str, Any]], *, title: str = "Calibration (10 bins)"
) -> Any:
    go = _go()
    fig = _figure(title, x="mean predicted probability", y="observed frequency")
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                   line={"dash": "dot", "color": "#aaaaaa"})
    )  # fmt: skip
    for curve in curves:
        fig.add_trace(
            go.Scatter(
                x=curve["prob_pred"],
                y=curve["prob_true"],
                mode="lines+markers",
                name=escape(str(curve["label"])),
                customdata=curve.get("counts"),
                hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows"
                "<extra></extra>",
            )
        )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def residuals_figure(details: Mapping[str, Any], *, title: str = "Residuals") -> Any:
    """Residual (predicted - actual) against predicted value, with a zero line."""
    go = _go()
    fig = _figure(title, x="predicted", y="residual (predicted - actual)")
    fig.add_trace(
        go.Scattergl(x=_array(details["predicted"]), y=_array(details["residual"]), mode="markers",
                     marker={"size": 4, "opacity": 0.5}, name="rows")
    )  # fmt: skip
    fig.add_hline(y=0, line={"color": "#888888", "dash": "dot"})
    return fig


def predicted_vs_actual_figure(
    details: Mapping[str, Any], *, title: str = "Predicted vs actual"
) -> Any:
    go = _go()
    fig = _figure(title, x="actual", y="predicted")
    actual = [v for v in details["actual"] if v is not None]
    fig.add_trace(
        go.Scattergl(x=_array(details["actual"]), y=_array(details["predicted"]), mode="markers",
                     marker={"size": 4, "opacity": 0.5}, name="rows")
    )  # fmt: skip
    if actual:
        lo, hi = min(actual), max(actual)
        fig.add_trace(
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfect",
                       line={"dash": "dot", "color": "#aaaaaa"})
        )  # fmt: skip
    return fig


def training_curves_figure(
    curves: Mapping[str, Sequence[float | None]], *, title: str = "Training curves"
) -> Any:
    """One line per recorded series (e.g. validation loss) over boosting iterations."""
    go = _go()
    fig = _figure(title, x="iteration", y="value")
    for name, values in curves.items():
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(values) + 1)),
                y=list(values),
                mode="lines",
                name=escape(str(name)),
            )
        )
    return fig


def tuning_figure(
    trials: Sequence[Mapping[str, Any]],
    *,
    maximize: bool,
    title: str = "Tuning history",
) -> Any:
    """Trial value over trial number, plus the best value so far."""
    go = _go()
    fig = _figure(title, x="trial", y="objective value")
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
    fig.add_trace(go.Scatter(x=numbers, y=values, mode="markers", name="trial", marker={"size": 7}))
    fig.add_trace(go.Scatter(x=numbers, y=best, mode="lines", name="best so far",
                             line={"shape": "hv"}))  # fmt: skip
    return fig


def importance_figure(
    table: Sequence[Mapping[str, Any]], *, metric: str, top: int = 20,
    title: str = "Permutation importance",
) -> Any:  # fmt: skip
    """Horizontal bars of the ``top`` most important raw columns, with one std as error bars."""
    go = _go()
    rows = list(table)[:top]
    fig = _figure(
        title,
        x=f"drop in {escape(metric)} when shuffled",
        y="",
        height=max(_HEIGHT, 80 + 22 * len(rows)),
    )
    fig.add_trace(
        go.Bar(
            x=[r["importance_mean"] for r in rows],
            y=[escape(str(r["feature"])) for r in rows],
            error_x={"type": "data", "array": [r["importance_std"] for r in rows]},
            orientation="h",
            name="importance",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return fig
