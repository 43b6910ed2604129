"""What one drift check compares, and how: shared by the local and the partitioned check.

:func:`plan_check` picks the reference columns the current data holds (and says
why the others are skipped), splits the family-wise alpha over them and plans
each column's method; :meth:`CheckPlan.report` turns the per-column verdicts
into the :class:`~conveyor.monitor._drift_result.DriftReport`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from conveyor.config._monitoring import DriftConfig
from conveyor.errors import ConfigError, DataError
from conveyor.monitor._drift_columns import CATEGORICAL_METHODS, NUMERIC_METHODS, ColumnPlan
from conveyor.monitor._drift_reference import ColumnReference, NumericReference, Reference
from conveyor.monitor._drift_result import ColumnDrift, DriftReport


@dataclass(frozen=True)
class CheckPlan:
    """The columns a check compares, each with its plan (the prediction last), and the skipped."""

    columns: list[tuple[str, ColumnReference, ColumnPlan]]
    skipped: dict[str, str]
    has_prediction: bool
    config: DriftConfig
    n_current: int

    def report(self, results: list[ColumnDrift]) -> DriftReport:
        """The report of the verdicts of :attr:`columns`, in their order."""
        results = list(results)
        prediction = results.pop() if self.has_prediction else None
        drifted = sum(1 for r in results if r.drifted)
        share = drifted / len(results) if results else 0.0
        return DriftReport(
            columns=results,
            share=share,
            dataset_drift=bool(results) and share > self.config.share_threshold,
            share_threshold=self.config.share_threshold,
            prediction=prediction,
            n_current=self.n_current,
            skipped=self.skipped,
        )


def plan_check(
    parsed: Reference,
    config: DriftConfig,
    present: Collection[str],
    n_rows: int,
    prediction_column: str | None,
) -> CheckPlan:
    """Plan a check of ``n_rows`` current rows holding the columns ``present``.

    ``present`` is listed, in its order, in the error when no column is shared.

    Raises:
        DataError: the current data has none of the reference's columns.
        ConfigError: a column's method does not fit its kind.
    """
    available = set(present)
    skipped: dict[str, str] = {}
    tested: list[tuple[str, ColumnReference]] = []
    for name, ref in parsed.features.items():
        override = config.columns.get(name)
        if override is not None and override.skip:
            skipped[name] = "skip: true in monitor.drift.columns"
        elif name not in available:
            skipped[name] = "not in the current data"
        else:
            tested.append((name, ref))
    has_prediction = (
        prediction_column is not None
        and parsed.prediction is not None
        and prediction_column in available
    )
    if not tested and not has_prediction:
        raise DataError(
            "the current data has none of the reference's columns "
            f"(reference: {preview(list(parsed.features))}; current: {preview(present)})",
            hint="compare data with the same column names as the model's inputs",
        )
    large = n_rows >= config.large_sample
    alpha = config.alpha / max(len(tested), 1)
    columns = [(name, ref, _column_plan(name, ref, config, alpha, large)) for name, ref in tested]
    if has_prediction:
        assert parsed.prediction is not None and prediction_column is not None
        plan = _column_plan(
            prediction_column, parsed.prediction, config, config.alpha, large, prediction=True
        )
        columns.append((prediction_column, parsed.prediction, plan))
    return CheckPlan(columns, skipped, has_prediction, config, n_rows)


def _column_plan(
    name: str,
    ref: ColumnReference,
    config: DriftConfig,
    alpha: float,
    large: bool,
    *,
    prediction: bool = False,
) -> ColumnPlan:
    numeric = isinstance(ref, NumericReference)
    override = None if prediction else config.columns.get(name)
    method = override.method if override is not None and override.method != "auto" else "auto"
    if method == "auto":
        method = config.numeric_method if numeric else config.categorical_method
    if method == "auto":
        method = (
            ("wasserstein" if large else "ks")
            if numeric
            else ("jensenshannon" if large else "chi2")
        )
    allowed = NUMERIC_METHODS if numeric else CATEGORICAL_METHODS
    if method not in allowed:
        kind = "numeric" if numeric else "categorical"
        raise ConfigError(
            f"monitor.drift.columns.{name}.method: {method!r} does not apply to the {kind} "
            f"column {name!r}; use one of {', '.join(('auto', *allowed))}"
        )
    threshold = override.threshold if override is not None else None
    return ColumnPlan(method=method, threshold=threshold, alpha=alpha, large=large, config=config)


def preview(names: Collection[str], limit: int = 8) -> str:
    """The first ``limit`` names, quoted, and how many there are in all when more."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
