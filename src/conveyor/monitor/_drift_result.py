"""What a drift check returns: one :class:`ColumnDrift` per column and a :class:`DriftReport`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

__all__ = ["ColumnDrift", "DriftReport"]


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, containers are walked."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return _plain(value.item())
    return value


@dataclass(frozen=True)
class ColumnDrift:
    """The drift verdict of one column.

    ``statistic`` is the KS statistic, normalised Wasserstein distance, PSI,
    chi-square statistic or Jensen-Shannon distance (``method``); ``threshold``
    is the p-value level (tests, ``p_value`` set) or the distance above which the
    column drifted. Numeric columns are also checked for a change of their
    missing rate (``missing_drifted``); categorical columns count missing values
    as a category of their own. ``reference_hist`` / ``current_hist`` hold the
    binned distributions for plots: ``{"edges": [...], "counts": [...]}`` or
    ``{"categories": [...], "counts": [...]}``, each with a ``"missing"`` count.
    """

    column: str
    kind: Literal["numeric", "categorical"]
    method: str
    statistic: float
    threshold: float
    p_value: float | None
    drifted: bool
    n_reference: int
    n_current: int
    missing_rate_reference: float
    missing_rate_current: float
    reference_hist: dict
    current_hist: dict
    missing_drifted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (non-finite numbers become null).

        Example:
            >>> report.columns[0].to_dict()["method"]  # doctest: +SKIP
            'wasserstein'
        """
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift, the share of drifted columns and the dataset verdict.

    ``dataset_drift`` is true when ``share`` (drifted / tested columns) exceeds
    ``share_threshold``. ``prediction`` is the drift of the model's output when the
    current data carries predictions (it does not count in ``share``).
    ``skipped`` names columns that were not compared, with the reason.
    """

    columns: list[ColumnDrift]
    share: float
    dataset_drift: bool
    share_threshold: float
    prediction: ColumnDrift | None
    n_current: int
    skipped: dict[str, str] = field(default_factory=dict)

    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted, in report order.

        Example:
            >>> report.drifted_columns()  # doctest: +SKIP
            ['tenure', 'contract']
        """
        return [c.column for c in self.columns if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the whole report.

        Example:
            >>> json.dumps(report.to_dict())  # doctest: +SKIP
        """
        return {
            "share": _plain(self.share),
            "dataset_drift": self.dataset_drift,
            "share_threshold": self.share_threshold,
            "n_current": self.n_current,
            "drifted_columns": self.drifted_columns(),
            "columns": [c.to_dict() for c in self.columns],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "skipped": dict(self.skipped),
        }
