"""The metric snapshot, the JSON document and the HTML report of a monitor result."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor.monitor import (
    SNAPSHOT_METRICS,
    ColumnDrift,
    DriftReport,
    MonitorResult,
    render_monitor_html,
    write_monitor_reports,
)
from conveyor.monitor._results import metric_rows

START, END = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
EVIL = "<script>alert(1)</script>"


def column(name: str, statistic: float, drifted: bool) -> ColumnDrift:
    return ColumnDrift(
        column=name, kind="categorical", method="jensenshannon", statistic=statistic,
        threshold=0.1, p_value=None, drifted=drifted, n_reference=100, n_current=50,
        missing_rate_reference=0.0, missing_rate_current=0.0,
        reference_hist={"categories": ["a", EVIL], "counts": [60, 40], "missing": 0},
        current_hist={"categories": ["a", EVIL], "counts": [10, 40], "missing": 0},
    )  # fmt: skip


def result(**changes: object) -> MonitorResult:
    drift = DriftReport(
        columns=[column(EVIL, 0.4, True), column("tenure", 0.01, False)],
        share=0.5, dataset_drift=True, share_threshold=0.3,
        prediction=column("prediction", 0.05, False), n_current=50,
    )  # fmt: skip
    figure = {"labels": 40, "metrics": {"accuracy": 0.9, "roc_auc": 0.8, "f1": float("nan")},
              "notes": []}  # fmt: skip
    base = {
        "model": "churn", "versions": [3, 4], "window_start": START, "window_end": END,
        "n_predictions": 50, "n_labelled": 40, "drift": drift,
        "quality": {"rows": 50, "null_rate": 0.1, "schema_violations": 2,
                    "unseen_categories": 0.25, "out_of_range": None,
                    "fields": {EVIL: {"type": "string", "kind": "categorical", "null_rate": 0.1,
                                      "violations": {"absent": 0, "null": 0, "type": 2},
                                      "unseen_rate": 0.25, "unseen_examples": [EVIL]}}},
        "performance": {"task": "binary", "min_labels": 30, "labelled": 40,
                        "invalid_labels": {"count": 1, "reason": "bad", "examples": [EVIL]},
                        "overall": figure, "versions": {"3": figure, "4": {"labels": 2,
                        "metrics": {}, "notes": ["too few"]}},
                        "slices": {}, "over_time": []},
        "health": {"overall": {"rows": 50, "shadow_rows": 0, "p50_ms": 1.0, "p95_ms": 2.0,
                               "p99_ms": 3.0, "error_rate": 0.02, "fallback_rate": 0.0},
                   "versions": {"3": {"rows": 50, "shadow_rows": 0, "p50_ms": 1.0, "p95_ms": 2.0,
                                      "p99_ms": 3.0, "error_rate": 0.02, "fallback_rate": 0.0}}},
        "primary_version": 3, "serving_version": 3, "new_rows": 7, "task": "binary",
    }  # fmt: skip
    return MonitorResult(**{**base, **changes})  # type: ignore[arg-type]


def test_snapshot_has_exactly_the_trigger_names() -> None:
    metrics = result().metrics()
    assert tuple(metrics) == SNAPSHOT_METRICS
    assert metrics["performance.accuracy"] == 0.9
    assert metrics["performance.f1"] is None  # NaN is "no value", never NaN
    assert metrics["performance.rmse"] is None  # not a regression model
    assert metrics["performance.labels"] == 40.0
    assert (metrics["drift.share"], metrics["drift.dataset"], metrics["drift.prediction"]) == (
        0.5, 1.0, 0.05,
    )  # fmt: skip
    assert (metrics["data.rows"], metrics["data.new_rows"]) == (50.0, 7.0)
    assert metrics["data.out_of_range"] is None
    assert metrics["latency.p99_ms"] == 3.0 and metrics["errors.rate"] == 0.02


def test_an_empty_result_has_counts_and_nothing_else() -> None:
    empty = result(
        versions=[], n_predictions=0, n_labelled=0, drift=None, quality={}, performance={},
        health={"overall": None, "versions": {}}, notes=["nothing to monitor: ..."],
    )  # fmt: skip
    assert empty.empty
    metrics = empty.metrics()
    assert metrics["data.rows"] == 0.0 and metrics["performance.labels"] == 0.0
    counted = {"data.rows", "data.new_rows", "performance.labels"}
    assert all(v is None for k, v in metrics.items() if k not in counted)
    assert empty.live_metrics() == {}


def test_to_dict_is_strict_json() -> None:
    document = result().to_dict()
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["window"] == {"start": START.isoformat(), "end": END.isoformat()}
    assert document["drift"]["drifted_columns"] == [EVIL]


def test_stored_rows_cover_snapshot_versions_and_columns() -> None:
    rows = metric_rows(result(), ("accuracy", "roc_auc"))
    names = {(r.name, r.version, r.column) for r in rows}
    assert {(n, None, None) for n in SNAPSHOT_METRICS} <= names
    assert ("performance.accuracy", 3, None) in names and ("performance.labels", 4, None) in names
    assert ("drift.statistic", None, "tenure") in names and ("data.null_rate", None, EVIL) in names
    assert all(r.value is None or isinstance(r.value, float) for r in rows)


def test_html_is_offline_escaped_and_has_every_section(tmp_path: Path) -> None:
    html_path, json_path = write_monitor_reports(result(), tmp_path / "r" / "m.html")
    html = html_path.read_text()
    assert EVIL not in html, "data-derived text must be escaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for anchor in ("summary", "drift", "history", "performance", "quality", "health"):
        assert f'id="{anchor}"' in html
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]*\ssrc\s*=", html, re.I), "plotly.js must be inline"
    rest = html.replace(get_plotlyjs(), "")
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", rest, re.I), "no URL at all"
    ids = re.findall(r'<div id="(plot-\d+)" class="plotly-graph-div"', rest)
    assert ids and len(ids) == len(set(ids))
    assert json.loads(json_path.read_text())["kind"] == "conveyor.monitor_report"


def test_json_path_sits_beside_the_html(tmp_path: Path) -> None:
    paths = write_monitor_reports(result(), tmp_path / "report.html")
    assert paths == (tmp_path / "report.html", tmp_path / "report.json")


@pytest.mark.parametrize("drift", [None])
def test_html_without_drift_says_why(drift: None) -> None:
    html = render_monitor_html(result(drift=drift))
    assert "No drift figures" in html
