"""The ``tune.space`` of a model spec as Optuna suggestions or a grid."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from conveyor.config.models import SearchParam
from conveyor.errors import ModelError

__all__ = ["check_space", "grid_values", "suggest_params"]

_GRID_LIMIT = 100_000


def check_space(space: Mapping[str, SearchParam], *, where: str) -> None:
    """Reject what Optuna cannot sample, before any trial runs.

    Raises:
        ModelError: empty space, log with a step, non-integer bounds of an
            ``int`` parameter, or categorical choices that are not scalars.
    """
    if not space:
        raise ModelError(
            f"{where}: the search space is empty; add parameters, e.g. "
            "space: {learning_rate: {type: float, low: 0.01, high: 0.3, log: true}}"
        )
    for name, p in space.items():
        at = f"{where}.{name}"
        if p.type == "categorical":
            bad = [
                c for c in p.choices or [] if not isinstance(c, (str, int, float, bool, type(None)))
            ]
            if bad:
                raise ModelError(
                    f"{at}: choices must be numbers, text, booleans or null; got {bad[0]!r}"
                )
            continue
        if p.log and p.step is not None and not (p.type == "int" and p.step == 1):
            raise ModelError(f"{at}: 'log' and 'step' cannot be combined; drop one of them")
        if p.step is not None and p.step <= 0:
            raise ModelError(f"{at}: 'step' must be > 0; got {p.step:g}")
        if p.type == "int":
            values = [p.low, p.high] + ([p.step] if p.step is not None else [])
            if any(v is not None and not float(v).is_integer() for v in values):
                raise ModelError(
                    f"{at}: an int parameter needs whole-number low/high/step; got "
                    f"low={p.low:g}, high={p.high:g}" + (f", step={p.step:g}" if p.step else "")
                )


def suggest_params(trial: Any, space: Mapping[str, SearchParam]) -> dict[str, Any]:
    """Ask ``trial`` for one value of every parameter in ``space``."""
    params: dict[str, Any] = {}
    for name, p in space.items():
        if p.type == "categorical":
            params[name] = trial.suggest_categorical(name, list(p.choices or []))
        elif p.type == "int":
            params[name] = trial.suggest_int(
                name, int(p.low or 0), int(p.high or 0), step=int(p.step or 1), log=p.log
            )
        else:
            params[name] = trial.suggest_float(
                name, float(p.low or 0.0), float(p.high or 0.0), step=p.step, log=p.log
            )
    return params


def grid_values(space: Mapping[str, SearchParam], *, where: str) -> dict[str, list[Any]]:
    """Every value the grid sampler should try, per parameter.

    Raises:
        ModelError: a float parameter without ``step``, or a grid too large.
    """
    grid: dict[str, list[Any]] = {}
    for name, p in space.items():
        if p.type == "categorical":
            grid[name] = list(p.choices or [])
        elif p.type == "int":
            grid[name] = list(range(int(p.low or 0), int(p.high or 0) + 1, int(p.step or 1)))
        else:
            if p.step is None:
                raise ModelError(
                    f"{where}.{name}: the grid sampler needs 'step' for a float parameter "
                    "(or list the values as a categorical 'choices')"
                )
            low, high, step = float(p.low or 0.0), float(p.high or 0.0), float(p.step)
            count = math.floor((high - low) / step + 1e-9) + 1
            # Rounded so 0.1 + 0.2 lands on 0.3 and matches what the trial records.
            grid[name] = [round(low + i * step, 12) for i in range(count)]
    size = math.prod(len(v) for v in grid.values())
    if size > _GRID_LIMIT:
        raise ModelError(
            f"{where}: the grid has {size:,} points (limit {_GRID_LIMIT:,}); coarsen the steps"
        )
    return grid
