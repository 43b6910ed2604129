"""The standard steps of a Conveyor pipeline, in order."""

from __future__ import annotations

from conveyor.pipeline.step import Step
from conveyor.pipeline.steps.data_steps import DATA_STEPS, check_columns_exist

__all__ = ["DATA_STEPS", "check_columns_exist", "default_steps"]


def default_steps(*, with_models: bool = True) -> list[Step]:
    """The pipeline for a config: data steps, then model steps when models are configured."""
    steps = list(DATA_STEPS)
    if with_models:
        from conveyor.pipeline.steps.model_steps import MODEL_STEPS

        steps.extend(MODEL_STEPS)
    return steps
