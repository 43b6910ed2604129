"""``conveyor reproduce RUN``: the same dataset version, config and seeds, run again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from conveyor.config.loader import MASK, parse_config
from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from conveyor.pipeline.runner import RunReporter
    from conveyor.project import Project

__all__ = ["reproduce_run"]


def reproduce_run(project: Project, run_id: str, *, reporter: RunReporter | None = None) -> dict[str, Any]:
    """Re-run ``run_id`` on its own collected data with its own config; compare the results.

    The collect step is pinned to the original dataset version (so a changed
    source cannot leak in), every other step runs afresh (no cache), tuning
    starts a fresh study with the same seed, and nothing is registered.
    Secrets, which runs store masked, are taken from the current config.
    """
    from conveyor.pipeline.steps import default_steps
    from conveyor.project import Project

    original = project.metadata.get_run(run_id)
    steps = project.metadata.list_steps(original.id)
    collect = next((s for s in steps if s.name == "collect" and s.status in ("succeeded",)), None)
    if collect is None or not collect.outputs:
        raise ConfigError(f"run {original.id} has no collected dataset to reproduce from (status {original.status})")
    config = _unmask(original.config, project.loaded.masked(), project.loaded.config.model_dump(
        mode="json", by_alias=True, exclude_none=True))
    loaded = parse_config(yaml.safe_dump(config, sort_keys=False), source=project.loaded.path,
                          env=dict(project._env))  # noqa: SLF001 - same process environment
    warnings = []
    if loaded.fingerprint != original.config_fingerprint:
        warnings.append("the rebuilt config differs from the original's fingerprint (a secret or default changed)")
    again = Project(loaded, env=project._env)  # noqa: SLF001
    again.__dict__["metadata"] = project.metadata  # share the open stores
    again.__dict__["artifacts"] = project.artifacts
    pipeline = [s for s in default_steps(with_models=bool(loaded.config.models)) if s.name != "register"]
    result = again.run(
        steps=pipeline, no_cache=True, pinned={"collect": collect.outputs}, reporter=reporter,
        kind="reproduce", parent_run_id=original.id, services={"study_suffix": f":reproduce-{original.id}"},
        raise_on_failure=True,
    )
    before = {s.name: s for s in steps}
    differences: dict[str, tuple[Any, Any]] = {}
    for step in result.steps:
        old = before.get(step.name)
        if old is None or step.name == "collect":
            continue
        if step.name in ("validate", "clean", "split") and old.outputs != step.outputs:
            differences[f"{step.name}.outputs"] = (sorted(old.outputs.values()), sorted(step.outputs.values()))
        if step.name == "evaluate":
            a, b = (old.metrics or {}).get("test", {}), (step.metrics or {}).get("test", {})
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    differences[f"test.{key}"] = (a.get(key), b.get(key))
    return {
        "original": original.id,
        "run_id": result.id,
        "identical": not differences,
        "differences": differences,
        "warnings": warnings,
        "metrics": next((s.metrics.get("test") for s in result.steps if s.name == "evaluate"), None),
    }


def _unmask(stored: Any, masked_now: Any, real_now: Any) -> Any:
    """Put the current secret values back where the stored config has ``***``."""
    if stored == MASK:
        if masked_now == MASK and real_now is not None:
            return real_now
        raise ConfigError("the run's config holds a masked secret that the current config does not provide")
    if isinstance(stored, dict):
        return {k: _unmask(v, (masked_now or {}).get(k) if isinstance(masked_now, dict) else None,
                           (real_now or {}).get(k) if isinstance(real_now, dict) else None)
                for k, v in stored.items()}
    if isinstance(stored, list):
        return [_unmask(v, masked_now[i] if isinstance(masked_now, list) and i < len(masked_now) else None,
                        real_now[i] if isinstance(real_now, list) and i < len(real_now) else None)
                for i, v in enumerate(stored)]
    return stored
