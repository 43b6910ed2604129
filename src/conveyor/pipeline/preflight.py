"""Checks that need more than the config schema, run before any data is read.

The pydantic models catch bad keys and types; these catch bad references:
an estimator path that does not import, a parameter it does not take, a
search-space key it does not take, a derived expression that does not parse,
a metric, gate or threshold rule that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conveyor.config.models import ConveyorConfig

__all__ = ["preflight"]


def preflight(config: ConveyorConfig) -> None:
    """Raise the first :class:`~conveyor.errors.ConveyorError` a run would hit on this config."""
    if not config.models:
        return
    from conveyor.evaluate import check_evaluate_config
    from conveyor.features.expressions import parse_expression
    from conveyor.train.estimators import check_param_names, resolve_estimator

    for name, text in config.features.derived.items():
        parse_expression(text, source=f"features.derived.{name}")
    for index, spec in enumerate(config.models):
        where = f"models[{index}]"
        estimator = resolve_estimator(spec, task=config.task, seed=config.seed, where=where)
        if spec.tune is not None and spec.tune.space:
            check_param_names(estimator, list(spec.tune.space), where=f"{where}.tune.space")
    check_evaluate_config(config.evaluate, task=config.task)
    if config.evaluate.primary_metric:
        from conveyor.train.scoring import get_metric

        # Candidates are ranked with the training metrics, a narrower set than the report's.
        get_metric(
            config.evaluate.primary_metric, task=config.task, where="evaluate.primary_metric"
        )
