"""Live figures of one model version from the prediction log and feedback (for the canary)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from conveyor.automate.canary import VersionStats

if TYPE_CHECKING:
    from conveyor.stores.metadata import MetadataStore
    from conveyor.stores.prediction_log import LogLocation

__all__ = ["live_version_stats"]

_SAMPLE = 5000


def live_version_stats(
    log_root: str | os.PathLike[str] | LogLocation,
    store: MetadataStore | None,
    model: str,
    version: int,
    *,
    since: datetime,
    until: datetime,
    task: str,
) -> VersionStats:
    """Figures of one version from the prediction log in ``[since, until)``, with feedback.

    Answers are rows of ``version`` with any status (``shadow`` answers count:
    they are the version's own). Failures are rows with a status other than
    ``ok``/``shadow`` or with ``fallback`` set. Feedback of a shadow answer is
    the feedback of the request it shadowed.
    """
    import polars as pl

    frame = _read_version(log_root, model, version, since, until)
    if frame.height == 0:
        return VersionStats(version=version, requests=0)
    errors = ~pl.col("status").is_in(["ok", "shadow"])
    figures = frame.select(
        errors.mean().alias("error_rate"),
        pl.col("fallback").cast(pl.Float64).mean().alias("fallback_rate"),
        (errors | pl.col("fallback")).mean().alias("failure_rate"),
        pl.col("latency_ms").quantile(0.99, "linear").alias("p99"),
    ).row(0, named=True)
    answered = frame.filter(pl.col("prediction").is_not_null())
    labels = values = None
    if task == "regression":
        numbers = answered["prediction"].cast(pl.Float64, strict=False).drop_nulls()
        values = numbers.sample(min(_SAMPLE, numbers.len()), seed=0).to_list()
    else:
        counts = answered["prediction"].cast(pl.String).value_counts()
        total = max(int(counts["count"].sum()), 1)
        labels = {str(k): int(n) / total for k, n in counts.iter_rows()}
    metric, performance, labelled = _live_performance(answered, store, model, task)
    return VersionStats(
        version=version,
        requests=frame.height,
        failure_rate=figures["failure_rate"],
        error_rate=figures["error_rate"],
        fallback_rate=figures["fallback_rate"],
        p99_ms=figures["p99"],
        labels=labels,
        values=values,
        metric=metric,
        performance=performance,
        labelled=labelled,
    )


def _read_version(
    root: str | os.PathLike[str] | LogLocation,
    model: str,
    version: int,
    since: datetime,
    until: datetime,
) -> Any:
    import polars as pl

    from conveyor.stores.prediction_log import LogLocation

    location = LogLocation.of(root)
    cutoff = since.astimezone(UTC).strftime("%Y-%m-%d/%H")
    files = [
        path
        for path in location.glob(f"{model}/v{int(version)}/*/*/part-*.parquet")
        if "/".join(path.rsplit("/", 3)[1:3]) >= cutoff  # hours before `since` are skipped
    ]
    columns = ["prediction_id", "ts", "prediction", "latency_ms", "fallback", "status"]
    if not files:
        return pl.DataFrame(
            schema={
                "prediction_id": pl.String,
                "ts": pl.Datetime("us", "UTC"),
                "prediction": pl.String,
                "latency_ms": pl.Float64,
                "fallback": pl.Boolean,
                "status": pl.String,
            }
        )
    parts = [
        location.scan(f).select(columns).with_columns(pl.col("prediction").cast(pl.String))
        for f in files
    ]
    return (
        pl.concat(parts, how="diagonal_relaxed")
        .filter((pl.col("ts") >= since) & (pl.col("ts") < until))
        .collect()
    )


def _live_performance(
    answered: Any, store: MetadataStore | None, model: str, task: str
) -> tuple[str, float | None, int]:
    import polars as pl

    from conveyor.stores.feedback import feedback_frame

    metric = "rmse" if task == "regression" else "accuracy"
    if store is None or answered.height == 0:
        return metric, None, 0
    feedback = feedback_frame(store, model=model).select("prediction_id", "actual")
    if feedback.height == 0:
        return metric, None, 0
    keyed = answered.with_columns(
        pl.col("prediction_id").str.replace(r"-shadow$", "").alias("__key")
    )
    joined = keyed.join(feedback.rename({"prediction_id": "__key"}), on="__key", how="inner")
    if joined.height == 0:
        return metric, None, 0
    if task == "regression":
        pred = joined["prediction"].cast(pl.Float64, strict=False)
        actual = joined["actual"].cast(pl.Float64, strict=False)
        errors = (pred - actual).drop_nulls()
        if errors.len() == 0:
            return metric, None, 0
        return metric, float((errors**2).mean() ** 0.5), errors.len()
    pred = joined["prediction"].cast(pl.String).str.to_lowercase()
    actual = joined["actual"].cast(pl.String).str.to_lowercase()
    return metric, float((pred == actual).mean()), joined.height
