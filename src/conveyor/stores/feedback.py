"""Ground truth ("feedback") for logged predictions, kept in the metadata store.

One row per ``prediction_id`` in the ``feedback`` table; ``actual`` is stored
as JSON text so any label type (text, integer, float, boolean) round-trips.
Writes are upserts (``INSERT … ON CONFLICT``) so that two servers recording
the same feedback at once cannot fail or duplicate it, on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.errors import DataError
from conveyor.stores._feedback_tables import feedback as feedback_table

if TYPE_CHECKING:
    import polars as pl

    from conveyor.stores.metadata import MetadataStore
    from conveyor.stores.prediction_log import PredictionLog

__all__ = ["ImportResult", "feedback_frame", "import_feedback", "record_feedback"]

_BATCH = 1000
_MAX_UNKNOWN_IDS = 20
_SUFFIXES = (".csv", ".parquet", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_feedback` did.

    Attributes:
        imported: new feedback rows.
        updated: rows whose ``actual`` changed.
        unchanged: rows already stored with the same ``actual``.
        unknown_ids: the first 20 prediction ids the log does not know (not stored).
        rows: data rows in the file.
        unknown: how many rows had an unknown prediction id (not stored).
    """

    imported: int
    updated: int
    unchanged: int
    unknown_ids: list[str] = field(default_factory=list)
    rows: int = 0
    unknown: int = 0


def record_feedback(
    store: MetadataStore,
    *,
    prediction_id: str,
    actual: Any,
    model: str | None = None,
    source: str = "api",
) -> bool:
    """Store the ground truth of one prediction (idempotent).

    Args:
        store: the metadata store.
        prediction_id: id returned by ``POST /v1/predict``.
        actual: the true label or value (str, int, float or bool).
        model: model name, if known (kept from earlier feedback when ``None``).
        source: where the feedback came from (``"api"``, ``"import"`` …).

    Returns:
        ``True`` when something changed (new row, or a different ``actual``);
        ``False`` when the same ``actual`` was already stored.

    Raises:
        DataError: ``prediction_id`` is empty or ``actual`` is not a scalar.
    """
    if not isinstance(prediction_id, str) or not prediction_id:
        raise DataError(
            f"feedback: prediction_id must be a non-empty string, got {prediction_id!r}"
        )
    encoded = encode_actual(actual, where=f"feedback for {prediction_id!r}: actual")
    row = _row(prediction_id, encoded, model, source, datetime.now(UTC))
    # RETURNING, not rowcount: psycopg reports -1 for this statement.
    return store.transaction(
        lambda conn: conn.execute(_upsert(store.dialect, [row])).first() is not None
    )


def import_feedback(
    store: MetadataStore,
    log: PredictionLog | None,
    path: Path,
    *,
    id_column: str = "prediction_id",
    actual_column: str = "actual",
) -> ImportResult:
    """Import ground truth from a CSV, Parquet or JSON-lines file, in batched transactions.

    A ``model`` column is used when present; otherwise the model is taken from
    the log. Rows whose prediction id the log does not know (when ``log`` is
    given) are not stored and are reported in the result.

    Raises:
        DataError: the file cannot be read, is empty, lacks a column, or has a
            missing id, a non-scalar or missing ``actual``, or one id with two
            different ``actual`` values (names the column and row).
    """
    path = Path(path)
    frame = _read(path)
    pairs = _validated_pairs(frame, path, id_column, actual_column)
    models: dict[str, str] = {}
    if "model" in frame.columns and id_column != "model" and actual_column != "model":
        models = {
            pid: m for pid, m in zip(frame[id_column], frame["model"], strict=True) if m is not None
        }
    unknown: list[str] = []
    if log is not None:
        known = log.lookup(pairs.keys())
        unknown = [pid for pid in pairs if pid not in known]
        for pid in unknown:
            del pairs[pid]
        models = {**known, **models}
    imported = updated = unchanged = 0
    now = datetime.now(UTC)
    items = list(pairs.items())
    for start in range(0, len(items), _BATCH):
        batch = items[start : start + _BATCH]
        rows = [_row(pid, actual, models.get(pid), "import", now) for pid, actual in batch]
        new, changed, same = store.transaction(
            lambda conn, rows=rows: _upsert_batch(store, conn, rows)
        )
        imported, updated, unchanged = imported + new, updated + changed, unchanged + same
    return ImportResult(
        imported=imported,
        updated=updated,
        unchanged=unchanged,
        unknown_ids=unknown[:_MAX_UNKNOWN_IDS],
        rows=frame.height,
        unknown=len(unknown),
    )


def feedback_frame(store: MetadataStore, *, model: str | None = None) -> pl.DataFrame:
    """All stored feedback (optionally of one model) as a Polars frame.

    Columns: ``prediction_id``, ``model``, ``actual`` (decoded; text when the
    stored values have mixed types), ``received_at`` (UTC), ``source``.
    """
    import polars as pl

    query = sa.select(feedback_table).order_by(feedback_table.c.received_at)
    if model is not None:
        query = query.where(feedback_table.c.model == model)

    def read() -> list[sa.Row]:
        with store.connect() as conn:
            return list(conn.execute(query))

    rows = store.retrying(read)
    actuals = [json.loads(r.actual) for r in rows]
    kinds = {type(a) for a in actuals}
    if len(kinds) <= 1:
        actual = pl.Series("actual", actuals, dtype=pl.String if not kinds else None)
    elif kinds == {int, float}:
        actual = pl.Series("actual", actuals, dtype=pl.Float64)
    else:  # e.g. labels stored both as text and as numbers: keep them apart as text
        actual = pl.Series("actual", [str(a) for a in actuals], dtype=pl.String)
    return pl.DataFrame(
        [
            pl.Series("prediction_id", [r.prediction_id for r in rows], dtype=pl.String),
            pl.Series("model", [r.model for r in rows], dtype=pl.String),
            actual,
            pl.Series("received_at", [r.received_at for r in rows], dtype=pl.Datetime("us", "UTC")),
            pl.Series("source", [r.source for r in rows], dtype=pl.String),
        ]
    )


def encode_actual(actual: Any, *, where: str) -> str:
    """JSON text of a ground-truth value; raises :class:`DataError` for anything but a scalar."""
    if isinstance(actual, float) and not math.isfinite(actual):
        raise DataError(f"{where}: {actual!r} is not a usable value (expected a finite number)")
    if actual is None or not isinstance(actual, str | int | float | bool):
        raise DataError(
            f"{where}: expected a label or value (str, int, float or bool), "
            f"got {type(actual).__name__} {actual!r}"[:300]
        )
    return json.dumps(actual)


# ---------------------------------------------------------------- internals


def _row(pid: str, actual: str, model: str | None, source: str, now: datetime) -> dict[str, Any]:
    return {
        "prediction_id": pid,
        "model": model,
        "actual": actual,
        "received_at": now,
        "source": source,
    }


def _upsert(dialect: str, rows: Sequence[dict[str, Any]]) -> sa.Executable:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(feedback_table).values(list(rows))
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[feedback_table.c.prediction_id],
        set_={
            "actual": excluded.actual,
            "model": sa.func.coalesce(excluded.model, feedback_table.c.model),
            "received_at": excluded.received_at,
            "source": excluded.source,
        },
        # Same actual again: no write at all, so rowcount tells "changed" apart.
        where=feedback_table.c.actual != excluded.actual,
    ).returning(feedback_table.c.prediction_id)


def _upsert_batch(
    store: MetadataStore, conn: sa.Connection, rows: list[dict[str, Any]]
) -> tuple[int, int, int]:
    ids = [r["prediction_id"] for r in rows]
    existing = dict(
        conn.execute(
            sa.select(feedback_table.c.prediction_id, feedback_table.c.actual).where(
                feedback_table.c.prediction_id.in_(ids)
            )
        ).all()
    )
    conn.execute(_upsert(store.dialect, rows)).all()
    new = sum(1 for pid in ids if pid not in existing)
    same = sum(1 for r in rows if existing.get(r["prediction_id"]) == r["actual"])
    return new, len(rows) - new - same, same


def _read(path: Path) -> pl.DataFrame:
    import polars as pl

    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{path}: cannot import feedback from a {suffix or 'suffix-less'} file "
            f"(expected one of {', '.join(_SUFFIXES)})"
        )
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema_length=None)
        elif suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_ndjson(path, infer_schema_length=None)
    except pl.exceptions.NoDataError as exc:
        raise DataError(f"{path}: the file is empty (expected a header and feedback rows)") from exc
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read feedback: {exc}") from exc
    if frame.height == 0:
        raise DataError(f"{path}: no feedback rows (columns: {', '.join(frame.columns) or 'none'})")
    return frame


def _validated_pairs(
    frame: pl.DataFrame, path: Path, id_column: str, actual_column: str
) -> dict[str, str]:
    import polars as pl

    for role, column in (("id", id_column), ("actual", actual_column)):
        if column not in frame.columns:
            flag = "--id-column" if role == "id" else "--actual-column"
            raise DataError(
                f"{path}: no column {column!r} (the {role} column); "
                f"columns are {', '.join(frame.columns)}",
                hint=f"name the right column with {flag}",
            )
    dtype = frame.schema[actual_column]
    if dtype.is_nested() or dtype == pl.Null:
        raise DataError(
            f"{path}: column {actual_column!r} has type {dtype}; "
            "expected labels or values (text, integer, float or boolean)"
        )
    pairs: dict[str, str] = {}
    first_row: dict[str, int] = {}
    # Row numbers in messages are 1-based data rows (the CSV header is not counted).
    for number, (pid, actual) in enumerate(
        zip(frame[id_column].to_list(), frame[actual_column].to_list(), strict=True), start=1
    ):
        if pid is None or (isinstance(pid, str) and not pid.strip()):
            raise DataError(f"{path}: row {number}, column {id_column!r}: missing prediction id")
        pid = str(pid)
        if actual is None:
            raise DataError(f"{path}: row {number}, column {actual_column!r}: missing value")
        encoded = encode_actual(actual, where=f"{path}: row {number}, column {actual_column!r}")
        if pid in pairs and pairs[pid] != encoded:
            raise DataError(
                f"{path}: rows {first_row[pid]} and {number}: prediction id {pid!r} has two "
                f"different values in {actual_column!r} ({pairs[pid]} and {encoded})"
            )
        pairs.setdefault(pid, encoded)
        first_row.setdefault(pid, number)
    return pairs
