"""The pipeline: step contract, runner, fingerprints and caching."""

from conveyor.pipeline.runner import Runner, RunReporter, RunResult, StepRun
from conveyor.pipeline.step import Step, StepContext, StepOutput

__all__ = ["RunReporter", "RunResult", "Runner", "Step", "StepContext", "StepOutput", "StepRun"]
