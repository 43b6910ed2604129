"""Conveyor's errors: one root, a family per area.

::

    ConveyorError                 exit 1 unless the subclass says otherwise
    ├── ConfigError               conveyor.yaml or an override is wrong (exit 2)
    ├── DataError                 input data is unusable (exit 2)
    │   └── SchemaError           data breaks the schema or the model signature (exit 2)
    ├── ModelError                an estimator, parameter or bundle is wrong (exit 2)
    │   └── GateFailed            a candidate failed its evaluation gates (exit 1)
    ├── StoreError                a metadata or artifact store failed (exit 1)
    │   └── NotFound              a run, version, alias or artifact does not exist (exit 2)
    └── ServeError                the serving layer cannot answer (exit 1)

Every error carries a one-line ``headline`` (what failed and where) and an
optional ``hint`` (what to do). The CLI prints the headline and the hint and
exits with ``exit_code``; the server maps the class to an HTTP status.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConveyorError",
    "DataError",
    "GateFailed",
    "ModelError",
    "NotFound",
    "SchemaError",
    "ServeError",
    "StoreError",
]


class ConveyorError(Exception):
    """Root of every error Conveyor raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def headline(self) -> str:
        return self.message.splitlines()[0] if self.message else type(self).__name__

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(ConveyorError):
    """The configuration (file, override or environment) is invalid."""

    exit_code = 2


class DataError(ConveyorError):
    """Input data cannot be read or used (names the file, row, column)."""

    exit_code = 2


class SchemaError(DataError):
    """Data does not match the expected schema or model signature."""


class ModelError(ConveyorError):
    """An estimator, parameter, search space or bundle is invalid."""

    exit_code = 2


class GateFailed(ModelError):
    """A candidate model failed one of its evaluation gates."""

    exit_code = 1


class StoreError(ConveyorError):
    """A metadata or artifact store operation failed."""


class NotFound(StoreError):
    """A run, model version, alias, dataset version or artifact does not exist."""

    exit_code = 2


class ServeError(ConveyorError):
    """The serving layer could not answer."""
