"""``conveyor reproduce RUN``: plan a re-run of a past run and compare the outcome.

The collect step is pinned to the original dataset version (so a changed
source cannot leak in), every other step runs afresh (no cache), tuning
starts a fresh study with the same seed, and nothing is registered. Secrets,
which runs store masked, are taken from the current config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from conveyor.config.loader import MASK, LoadedConfig, parse_config
from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from conveyor.pipeline.runner import RunResult
    from conveyor.stores.metadata import MetadataStore

__all__ = ["ReproductionPlan", "compare_reproduction", "plan_reproduction"]


@dataclass
class ReproductionPlan:
    original_id: str
    loaded: LoadedConfig
    pinned: dict[str, dict[str, str]]
    original_steps: list[Any]
    warnings: list[str] = field(default_factory=list)


def plan_reproduction(
    metadata: MetadataStore, run_id: str, *, current: LoadedConfig, env: Mapping[str, str]
) -> ReproductionPlan:
    """The config and pinned dataset a reproduction of ``run_id`` runs with."""
    original = metadata.get_run(run_id)
    steps = metadata.list_steps(original.id)
    collect = next((s for s in steps if s.name == "collect" and s.status == "succeeded"), None)
    if collect is None or not collect.outputs:
        raise ConfigError(
            f"run {original.id} has no collected dataset to reproduce from (status {original.status})"
        )
    config = _unmask(
        original.config,
        current.masked(),
        current.config.model_dump(mode="json", by_alias=True, exclude_none=True),
    )
    loaded = parse_config(
        yaml.safe_dump(config, sort_keys=False), source=current.path, env=dict(env)
    )
    warnings = []
    if loaded.fingerprint != original.config_fingerprint:
        warnings.append(
            "the rebuilt config differs from the original's fingerprint (a secret or default changed)"
        )
    return ReproductionPlan(
        original.id, loaded, {"collect": dict(collect.outputs)}, list(steps), warnings
    )


def compare_reproduction(plan: ReproductionPlan, result: RunResult) -> dict[str, Any]:
    """What differs between the original run and its reproduction (data outputs, test metrics)."""
    before = {s.name: s for s in plan.original_steps}
    differences: dict[str, tuple[Any, Any]] = {}
    for step in result.steps:
        old = before.get(step.name)
        if old is None or step.name == "collect":
            continue
        if step.name in ("validate", "clean", "split") and old.outputs != step.outputs:
            differences[f"{step.name}.outputs"] = (
                sorted(old.outputs.values()),
                sorted(step.outputs.values()),
            )
        if step.name == "evaluate":
            a, b = (old.metrics or {}).get("test", {}), (step.metrics or {}).get("test", {})
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    differences[f"test.{key}"] = (a.get(key), b.get(key))
    return {
        "original": plan.original_id,
        "run_id": result.id,
        "identical": not differences,
        "differences": differences,
        "warnings": plan.warnings,
        "metrics": next(
            (s.metrics.get("test") for s in result.steps if s.name == "evaluate"), None
        ),
    }


def reproduction_steps(with_models: bool) -> Sequence[Any]:
    from conveyor.pipeline.steps import default_steps

    return [s for s in default_steps(with_models=with_models) if s.name != "register"]


def _unmask(stored: Any, masked_now: Any, real_now: Any) -> Any:
    """Put the current secret values back where the stored config has ``***``."""
    if stored == MASK:
        if masked_now == MASK and real_now is not None:
            return real_now
        raise ConfigError(
            "the run's config holds a masked secret that the current config does not provide"
        )
    if isinstance(stored, dict):
        return {
            k: _unmask(
                v,
                masked_now.get(k) if isinstance(masked_now, dict) else None,
                real_now.get(k) if isinstance(real_now, dict) else None,
            )
            for k, v in stored.items()
        }
    if isinstance(stored, list):
        return [
            _unmask(
                v,
                masked_now[i] if isinstance(masked_now, list) and i < len(masked_now) else None,
                real_now[i] if isinstance(real_now, list) and i < len(real_now) else None,
            )
            for i, v in enumerate(stored)
        ]
    return stored
