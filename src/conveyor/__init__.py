"""Conveyor: one config from raw data to a monitored model in production.

The Python API mirrors the CLI::

    import conveyor
    run = conveyor.run("conveyor.yaml")
    project = conveyor.Project(".")

Heavy modules load lazily, on first use of the attribute that needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.errors import (
    ConfigError,
    ConveyorError,
    DataError,
    GateFailed,
    ModelError,
    NotFound,
    SchemaError,
    ServeError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConveyorError",
    "DataError",
    "GateFailed",
    "ModelError",
    "NotFound",
    "Project",
    "SchemaError",
    "ServeError",
    "StoreError",
    "__version__",
    "load_config",
    "run",
]

if TYPE_CHECKING:
    from conveyor.config import load_config
    from conveyor.project import Project, run


def __getattr__(name: str) -> Any:
    if name in ("Project", "run"):
        from conveyor import project

        return getattr(project, name)
    if name == "load_config":
        from conveyor.config import load_config

        return load_config
    raise AttributeError(f"module 'conveyor' has no attribute {name!r}")
