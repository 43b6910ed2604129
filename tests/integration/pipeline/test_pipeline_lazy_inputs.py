"""Inputs a step reads only on some paths arrive as Lazy and are loaded on the first call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import conveyor
from conveyor.pipeline.step import Lazy, Step, StepContext, StepOutput

CONFIG = {
    "version": 1,
    "project": "lazy",
    "task": "binary",
    "target": "a",
    "data": {"sources": [{"name": "t", "path": "t.csv"}]},
}


def _produce(ctx: StepContext) -> StepOutput:
    return StepOutput(outputs={"payload": {"rows": [1, 2, 3]}, "other": {"n": 1}})


def _steps(seen: dict[str, Any], *, call: bool) -> list[Step]:
    def consume(ctx: StepContext, payload: Any, other: Any) -> StepOutput:
        seen["payload"], seen["other"] = payload, other
        if call:
            seen["value"], seen["again"] = payload(), payload()
        return StepOutput(outputs={"done": {"ok": True}})

    return [
        Step(name="produce", fn=_produce, inputs=(), outputs={"payload": "json", "other": "json"}),
        Step(
            name="consume",
            fn=consume,
            inputs=("payload", "other"),
            outputs={"done": "json"},
            lazy_inputs=("payload",),
            cacheable=False,
        ),
    ]


@pytest.mark.parametrize("call", [True, False])
def test_a_lazy_input_loads_only_when_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: bool
) -> None:
    import conveyor.pipeline.runner as runner

    (tmp_path / "t.csv").write_text("a\n1\n")
    project = conveyor.Project.from_mapping(CONFIG, root=tmp_path)
    loads: list[str] = []
    real = runner.load_output

    def counting(artifacts: Any, kind: str, digest: str, **kwargs: Any) -> Any:
        loads.append(digest)
        return real(artifacts, kind, digest, **kwargs)

    seen: dict[str, Any] = {}
    project.run(steps=_steps(seen, call=call))  # values handed over in memory
    monkeypatch.setattr(runner, "load_output", counting)
    again = project.run(steps=_steps(seen, call=call))  # produce cached: read from the store
    assert [s.status for s in again.steps] == ["cached", "succeeded"]
    assert isinstance(seen["payload"], Lazy)
    assert seen["other"] == {"n": 1}  # an ordinary input arrives loaded
    if call:
        assert seen["value"] == seen["again"] == {"rows": [1, 2, 3]}
        assert len(loads) == 2  # other, then payload once
    else:
        assert len(loads) == 1  # other only
