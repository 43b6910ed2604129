"""Evaluation: metrics by task, threshold choice, baseline, gates, CV, slices, importance, reports.

Example:
    >>> from conveyor.evaluate import compute_metrics
    >>> compute_metrics("binary", ["a", "b"], y_pred=["a", "b"])["accuracy"]
    1.0
"""

from __future__ import annotations

from conveyor.evaluate.baseline import BASELINE_TOLERANCE, beats_baseline, evaluate_baseline
from conveyor.evaluate.cv import cross_validate_scores
from conveyor.evaluate.details import classification_details, regression_details
from conveyor.evaluate.evaluation import (
    Evaluation,
    check_evaluate_config,
    evaluate_model,
    overfit_warning,
    resolve_primary_metric,
)
from conveyor.evaluate.gates import Gate, GateResult, check_gates, parse_gate
from conveyor.evaluate.importance import permutation_importance_table
from conveyor.evaluate.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    MetricScores,
    compute_metrics,
    default_primary_metric,
    greater_is_better,
    metric_names,
)
from conveyor.evaluate.report_html import render_html_report
from conveyor.evaluate.report_json import REPORT_FORMAT_VERSION, render_json_report
from conveyor.evaluate.slices import slice_metrics
from conveyor.evaluate.threshold import (
    ThresholdChoice,
    ThresholdRule,
    choose_threshold,
    parse_threshold_rule,
)

__all__ = [
    "BASELINE_TOLERANCE",
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "REPORT_FORMAT_VERSION",
    "Evaluation",
    "Gate",
    "GateResult",
    "MetricScores",
    "ThresholdChoice",
    "ThresholdRule",
    "beats_baseline",
    "check_evaluate_config",
    "check_gates",
    "choose_threshold",
    "classification_details",
    "compute_metrics",
    "cross_validate_scores",
    "default_primary_metric",
    "evaluate_baseline",
    "evaluate_model",
    "greater_is_better",
    "metric_names",
    "overfit_warning",
    "parse_gate",
    "parse_threshold_rule",
    "permutation_importance_table",
    "regression_details",
    "render_html_report",
    "render_json_report",
    "resolve_primary_metric",
    "slice_metrics",
]
