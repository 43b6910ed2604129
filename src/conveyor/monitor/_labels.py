"""Ground truth for a window: feedback read from the metadata store and checked against the model.

Feedback is joined to logged predictions on ``prediction_id`` (a shadow row
``<id>-shadow`` takes the feedback of ``<id>``: the truth does not depend on
which model answered). Feedback whose label cannot be scored is **counted as
invalid, not fatal**: one bad row in a feed of thousands must not hide the
live performance of everything else. The count, the reason and a few example
values are reported next to the figures, and the CLI prints a warning:

- classification: the label is not one of the model's classes (compared on
  their text, so ``1`` and ``"1"`` match but ``true`` and ``1`` do not);
- regression: the label is not a number (text or a boolean).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from conveyor.stores._feedback_tables import feedback as feedback_table

if TYPE_CHECKING:
    from conveyor.stores.metadata import MetadataStore

__all__ = ["CLOCK_SKEW", "LabelCheck", "check_labels", "label_key", "read_feedback"]

CLOCK_SKEW = timedelta(days=1)
"""Feedback received up to this long before the window starts is still read (clocks differ)."""
SHADOW_SUFFIX = "-shadow"
_MAX_EXAMPLES = 5


def read_feedback(
    store: MetadataStore, model: str, *, received_since: datetime | None
) -> pl.DataFrame:
    """``prediction_id`` and ``actual`` (JSON text) of the feedback that may concern ``model``.

    Feedback recorded without a model name is included (the join on the id
    decides). Feedback for a prediction arrives after the prediction, so only
    rows received since the window start (less :data:`CLOCK_SKEW`) are read.
    """
    query = sa.select(feedback_table.c.prediction_id, feedback_table.c.actual).where(
        sa.or_(feedback_table.c.model == model, feedback_table.c.model.is_(None))
    )
    if received_since is not None:
        query = query.where(feedback_table.c.received_at >= received_since - CLOCK_SKEW)

    def read() -> list[Any]:
        with store.connect() as conn:
            # Plain tuples from the DBAPI cursor: building a million SQLAlchemy rows
            # costs more than the query (both columns are text: no type to convert).
            return conn.execute(query).cursor.fetchall()

    rows = store.retrying(read)
    return pl.DataFrame(
        rows, schema=[("prediction_id", pl.String), ("actual", pl.String)], orient="row"
    )


def label_key(prediction_id: pl.Expr, status: pl.Expr) -> pl.Expr:
    """The feedback id of a logged row: shadow rows answer for the champion's prediction id."""
    return (
        pl.when(status == "shadow")
        .then(prediction_id.str.strip_suffix(SHADOW_SUFFIX))
        .otherwise(prediction_id)
    )


@dataclass
class LabelCheck:
    """Labels of the joined rows, and what was wrong with the rest.

    Attributes:
        label: the usable label per row (class text, or float for regression); null where
            there is no feedback or the feedback is invalid.
        invalid: rows whose feedback could not be used.
        reason: why (one sentence), empty when nothing was invalid.
        examples: up to five of the offending values, as stored (JSON text).
    """

    label: pl.Series
    invalid: int = 0
    reason: str = ""
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.invalid, "reason": self.reason, "examples": list(self.examples)}


def _text(value: Any) -> str:
    # The text a label is compared on, the same rule as conveyor.evaluate's class matching.
    return value if isinstance(value, str) else str(value)


def check_labels(actual: pl.Series, *, task: str, classes: list[str] | None) -> LabelCheck:
    """Decode JSON feedback values and keep those the model can be scored on.

    Args:
        actual: JSON text per row (null where no feedback joined).
        task: ``binary``, ``multiclass`` or ``regression``.
        classes: the model's classes as text (classification).
    """
    present = actual.is_not_null()
    if task == "regression":
        raw = actual.str.strip_chars()
        textual = raw.str.starts_with('"') | raw.is_in(["true", "false"])
        value = raw.cast(pl.Float64, strict=False)
        bad = present & (textual | value.is_null() | value.is_nan() | value.is_infinite())
        label = pl.Series("label", value).set(bad, None)  # type: ignore[arg-type]
        reason = "labels that are not numbers (a regression model is scored on numeric values)"
    else:
        distinct = actual.drop_nulls().unique().to_list()
        mapping = {raw: _text(json.loads(raw)) for raw in distinct}
        decoded = actual.replace_strict(mapping, default=None, return_dtype=pl.String)
        known = decoded.is_in(list(classes or []))
        bad = present & ~known
        label = decoded.set(bad, None).alias("label")  # type: ignore[arg-type]
        shown = ", ".join(repr(c) for c in (classes or [])[:10])
        reason = f"labels that are not one of the model's classes ({shown})"
    invalid = int(bad.sum())
    if not invalid:
        return LabelCheck(label=label)
    examples = actual.filter(bad).unique(maintain_order=True).head(_MAX_EXAMPLES).to_list()
    return LabelCheck(label=label, invalid=invalid, reason=reason, examples=examples)
