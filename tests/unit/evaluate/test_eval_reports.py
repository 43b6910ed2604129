from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conveyor.config.models import EvaluateConfig
from conveyor.evaluate import Evaluation, evaluate_model, render_html_report, render_json_report

EVIL = "<script>alert('pwned')</script>"


@pytest.fixture(scope="module")
def evaluations(binary_split, regression_split) -> list[Evaluation]:
    b, r = binary_split, regression_split
    config = EvaluateConfig(
        gates={"roc_auc": ">= 0.99"}, cv_folds=3, slices=["region"], threshold="max_f1"
    )
    binary = evaluate_model(
        b.pipeline, task="binary", X_train=b.X_train, y_train=b.y_train, X_test=b.X_test,
        y_test=b.y_test, config=config, classes=list(b.pipeline.classes_), positive_class="yes",
        seed=0, primary_metric=None, model_name=EVIL,
    )  # fmt: skip
    regression = evaluate_model(
        r.pipeline, task="regression", X_train=r.X_train, y_train=r.y_train, X_test=r.X_test,
        y_test=r.y_test, config=EvaluateConfig(cv_folds=None), classes=None, positive_class=None,
        seed=0, primary_metric=None, model_name="ridge",
    )  # fmt: skip
    return [binary, regression]


@pytest.fixture(scope="module")
def report_inputs(evaluations) -> dict:
    return dict(
        title="Churn <b>report</b>",
        leaderboard=[
            {"model": EVIL, "roc_auc": 0.91, "winner": True, "fit_s": np.float64(1.5)},
            {"model": "ridge", "rmse": 4.2},
        ],
        run_info={"run_id": "r-1", "started_at": "2026-01-01T00:00:00Z", "db_password": "hunter2"},
        tuning={EVIL: [{"number": 0, "value": 0.8}, {"number": 1, "value": 0.85, "params": {"C": "<1>"}},
                       {"number": 2, "value": None, "state": "PRUNED"}]},
        curves={EVIL: {"valid_logloss": [0.69, 0.5, 0.45, float("nan")]}},
    )  # fmt: skip


@pytest.fixture(scope="module")
def html(evaluations, report_inputs) -> str:
    return render_html_report(evaluations, **report_inputs)


def _without_plotlyjs(text: str) -> str:
    from plotly.offline import get_plotlyjs

    return text.replace(get_plotlyjs(), "")


def test_plotlyjs_is_inline_exactly_once(html: str) -> None:
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()) == 1
    assert html.count("Plotly.newPlot") == html.count('class="plotly-graph-div"')
    assert 4_000_000 < len(html) < 6_500_000


def test_report_needs_no_network(html: str) -> None:
    assert not re.search(r"<script[^>]*\ssrc\s*=", html, re.I)
    assert "<link" not in html.lower() and "@import" not in html
    # plotly.js itself mentions map-tile and topojson URLs (never fetched for our
    # chart types); everything else in the page must carry no URL at all.
    rest = _without_plotlyjs(html)
    assert "https://cdn" not in rest
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", rest, re.I)


def test_one_div_per_plot(html: str) -> None:
    rest = _without_plotlyjs(html)
    ids = re.findall(r'<div id="(plot-\d+)" class="plotly-graph-div"', rest)
    # binary: confusion, ROC, PR, calibration, training curves, tuning, importance;
    # regression: residuals, predicted vs actual, importance.
    assert ids == [f"plot-{i}" for i in range(1, 11)]
    for plot_id in ids:
        assert f'Plotly.newPlot(                        "{plot_id}"' in rest or plot_id in rest


def test_user_strings_are_escaped(html: str) -> None:
    rest = _without_plotlyjs(html)
    assert EVIL not in html
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in rest
    assert "<title>Churn &lt;b&gt;report&lt;/b&gt;</title>" in rest
    # The only <script> tags are plotly.js and the generated figure calls.
    assert rest.count("<script") == 12  # as before, plus the resize-on-load script


def test_sections_and_content(html: str) -> None:
    rest = _without_plotlyjs(html)
    for heading in (
        "Run summary", "Leaderboard", "Metrics vs baseline", "Gates", "Decision threshold",
        "Test-split diagnostics", "Training curves", "Tuning history", "Permutation importance",
        "Slice metrics", "Cross-validation (3 folds", "Residuals (predicted − actual)", "Warnings",
    ):  # fmt: skip
        assert heading in rest, heading
    assert '<tr class="winner"><td>&lt;script&gt;' in rest
    assert "hunter2" not in html and "***" in rest
    assert "beats the baseline&#x27;s 0.5 (predicting the class priors)" in rest
    assert "<td>started_at</td><td>2026-01-01T00:00:00Z</td>" in rest
    assert "(gate: roc_auc &gt;= 0.99)" in rest
    assert (
        "3 trial(s), 2 with a value; best: trial 1 with 0.85, params {&quot;C&quot;: &quot;&lt;1&gt;&quot;}"
        in rest
    )


def test_html_is_deterministic(evaluations, report_inputs, html: str) -> None:
    assert render_html_report(evaluations, **report_inputs) == html


def test_empty_report_has_no_plotlyjs() -> None:
    text = render_html_report([], title="empty", leaderboard=[], run_info={})
    assert "Plotly" not in text and "No leaderboard." in text and len(text) < 10_000


def test_json_report_is_strict_json(evaluations, report_inputs) -> None:
    report = render_json_report(evaluations, **report_inputs)
    text = json.dumps(report, allow_nan=False)
    back = json.loads(text)
    assert back["format_version"] == 1 and back["title"] == "Churn <b>report</b>"
    assert [m["model_name"] for m in back["models"]] == [EVIL, "ridge"]
    assert back["winner"]["model"] == EVIL and back["leaderboard"][0]["fit_s"] == 1.5
    assert back["run_info"]["db_password"] == "***"
    assert back["curves"][EVIL]["valid_logloss"][-1] is None
    model = back["models"][0]
    assert model["threshold"]["rule"] == "max_f1"
    assert model["gates"]["passed"] is False and model["details"]["roc"]
    # A stored JSON evaluation renders the same report as the live object.
    rebuilt = [Evaluation.from_dict(m) for m in back["models"]]
    assert render_html_report(rebuilt, **report_inputs) == render_html_report(
        evaluations, **report_inputs
    )
