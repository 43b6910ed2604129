"""Serving health: latency percentiles, error and fallback rates, per version."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from conveyor.monitor._health import serving_health


def frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    latency = rng.gamma(2.0, 3.0, 1000)
    return pl.DataFrame(
        {
            "version": [1] * 800 + [2] * 200,
            "status": ["ok"] * 790 + ["error"] * 10 + ["shadow"] * 200,
            "latency_ms": latency,
            "fallback": [i % 20 == 0 for i in range(1000)],
        }
    )


def test_percentiles_match_numpy_and_shadow_rows_stay_out_of_the_overall_figures() -> None:
    data = frame()
    health = serving_health(data)
    served = data["latency_ms"].to_numpy()[:800]
    overall = health["overall"]
    assert overall["rows"] == 800 and overall["shadow_rows"] == 0
    for q in (50, 95, 99):
        assert overall[f"p{q}_ms"] == pytest.approx(np.percentile(served, q))
    assert overall["error_rate"] == pytest.approx(10 / 800)
    assert overall["fallback_rate"] == pytest.approx(40 / 800)


def test_per_version_figures_include_shadow_rows() -> None:
    health = serving_health(frame())
    assert list(health["versions"]) == ["1", "2"]
    v2 = health["versions"]["2"]
    assert v2["rows"] == 200 and v2["shadow_rows"] == 200 and v2["error_rate"] == 0.0


def test_missing_latencies_are_skipped_and_an_empty_frame_has_no_figures() -> None:
    data = pl.DataFrame(
        {"version": [1, 1], "status": ["ok", "ok"], "latency_ms": [None, 4.0],
         "fallback": [False, False]},
        schema_overrides={"latency_ms": pl.Float64},
    )  # fmt: skip
    assert serving_health(data)["overall"]["p99_ms"] == 4.0
    assert serving_health(data.clear()) == {"overall": None, "versions": {}}
