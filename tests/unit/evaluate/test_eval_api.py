from __future__ import annotations

import subprocess
import sys

import conveyor.evaluate as evaluate


def test_public_api_is_exact() -> None:
    assert sorted(evaluate.__all__) == sorted(
        [
            "BASELINE_TOLERANCE", "CLASSIFICATION_METRICS", "REGRESSION_METRICS",
            "REPORT_FORMAT_VERSION", "Evaluation", "Gate", "GateResult", "MetricScores",
            "ThresholdChoice", "ThresholdRule", "beats_baseline", "check_evaluate_config",
            "check_gates", "choose_threshold", "classification_details", "compute_metrics",
            "cross_validate_scores", "default_primary_metric", "evaluate_baseline",
            "evaluate_model", "greater_is_better", "metric_names", "overfit_warning",
            "parse_gate", "parse_threshold_rule", "permutation_importance_table",
            "regression_details", "render_html_report", "render_json_report",
            "resolve_primary_metric", "slice_metrics",
        ]
    )  # fmt: skip
    for name in evaluate.__all__:
        assert hasattr(evaluate, name), name


def test_importing_evaluate_loads_no_heavy_or_web_library() -> None:
    code = (
        "import sys, conveyor.evaluate; "
        "bad = [m for m in ('sklearn', 'plotly', 'jinja2', 'fastapi', 'optuna', 'polars') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(__import__("pathlib").Path(evaluate.__file__).parents[2])},
    )  # fmt: skip
    assert out.stdout.strip() == ""
