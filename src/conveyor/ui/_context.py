"""What every dashboard handler needs: the project, its stores, the access rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from conveyor.ui._auth import UiAccess

if TYPE_CHECKING:
    import sqlalchemy as sa

    from conveyor.project import Project

__all__ = ["InvalidRequest", "UiContext"]

T = TypeVar("T")


class InvalidRequest(ValueError):
    """A request the dashboard cannot answer as asked (answered with 422 and this message)."""


@dataclass
class UiContext:
    """The open project and the dashboard's access rules.

    Args:
        project: the project whose stores the dashboard reads.
        access: who may read and who may change aliases.
    """

    project: Project
    access: UiAccess

    @property
    def root(self) -> Path:
        return self.project.root

    @property
    def prediction_log_root(self) -> Path | None:
        """The local prediction log folder; None when the log lives in object storage.

        The dashboard's traffic panels read local segments only; monitoring
        results (stored in the metadata store) cover an object-store log.
        """
        root = self.project.prediction_log_root()
        return root if isinstance(root, Path) else None

    def read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn(conn)`` on a read connection, retried when the database is locked."""
        store = self.project.metadata

        def attempt() -> T:
            with store.connect() as conn:
                return fn(conn)

        return store.retrying(attempt)
