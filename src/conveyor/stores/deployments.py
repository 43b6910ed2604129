"""Running servers and fleet-wide serving settings, in the metadata store.

Every ``conveyor serve`` process writes a heartbeat row to ``deployments``
every few seconds: what it serves (champion and challenger versions, canary
share) and how it is doing (request rate, latency percentiles, error and
fallback rates over the last interval). A row not refreshed for
``stale_after_s`` is shown as ``lost``; a server that stops cleanly marks its
row ``stopped``.

``serving_settings`` holds settings that every server of a model follows,
whoever set them (the dashboard, the admin API, the agent): today the canary
share (key ``canary_traffic``). Servers read it with their heartbeat, so a
change reaches the whole fleet within one interval.

Example:
    >>> set_canary_traffic(store, "churn", 0.25, actor="ui:alice")  # doctest: +SKIP
    >>> canary_traffic(store, "churn")  # doctest: +SKIP
    0.25
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from conveyor.errors import ConfigError
from conveyor.stores._deployment_tables import deployments as deployments_table
from conveyor.stores._deployment_tables import serving_settings

if TYPE_CHECKING:
    from conveyor.stores.metadata import MetadataStore

__all__ = [
    "CANARY_TRAFFIC",
    "Deployment",
    "Heartbeat",
    "canary_traffic",
    "list_deployments",
    "mark_stopped",
    "set_canary_traffic",
    "write_heartbeat",
]

CANARY_TRAFFIC = "canary_traffic"


@dataclass(frozen=True)
class Heartbeat:
    """What one server reports about itself.

    Attributes:
        server_id: unique per server process.
        host: machine name; ``pid``: process id; ``address``: ``http://host:port``.
        model: model name; ``model_ref``: what it serves (``churn@champion``).
        champion_version / challenger_version: loaded versions (None: none).
        canary_traffic: share routed to the challenger (None: no canary routing).
        stats: request rate, latency percentiles, error and fallback rates.
    """

    server_id: str
    host: str
    pid: int
    address: str | None
    model: str
    model_ref: str
    champion_version: int | None
    challenger_version: int | None
    canary_traffic: float | None
    stats: dict[str, Any]


@dataclass(frozen=True)
class Deployment:
    """A server as the store last heard of it; ``status`` is running, stopped or lost."""

    server_id: str
    host: str
    pid: int
    address: str | None
    model: str
    model_ref: str
    champion_version: int | None
    challenger_version: int | None
    canary_traffic: float | None
    status: str
    started_at: datetime
    last_seen: datetime
    stats: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "started_at": self.started_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


def _upsert(dialect: str, table: sa.Table, values: dict[str, Any], keys: list[str]) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(values)
    update = {k: stmt.excluded[k] for k in values if k not in keys and k != "started_at"}
    return stmt.on_conflict_do_update(index_elements=keys, set_=update)


def write_heartbeat(store: MetadataStore, beat: Heartbeat, *, now: datetime | None = None) -> None:
    """Insert or refresh the server's row (status ``running``)."""
    now = now or datetime.now(UTC)
    values = {
        "server_id": beat.server_id,
        "host": beat.host,
        "pid": beat.pid,
        "address": beat.address,
        "model": beat.model,
        "model_ref": beat.model_ref,
        "champion_version": beat.champion_version,
        "challenger_version": beat.challenger_version,
        "canary_traffic": beat.canary_traffic,
        "status": "running",
        "started_at": now,
        "last_seen": now,
        "stats": json.dumps(beat.stats, allow_nan=False, default=str),
    }
    stmt = _upsert(store.dialect, deployments_table, values, ["server_id"])
    store.transaction(lambda conn: conn.execute(stmt))


def mark_stopped(store: MetadataStore, server_id: str, *, now: datetime | None = None) -> None:
    """Record that the server stopped cleanly."""
    now = now or datetime.now(UTC)
    stmt = (
        sa.update(deployments_table)
        .where(deployments_table.c.server_id == server_id)
        .values(status="stopped", last_seen=now)
    )
    store.transaction(lambda conn: conn.execute(stmt))


def list_deployments(
    store: MetadataStore,
    *,
    model: str | None = None,
    include_stopped: bool = False,
    stale_after_s: float = 30.0,
    limit: int = 200,
    now: datetime | None = None,
) -> list[Deployment]:
    """Servers, newest heartbeat first; a running row older than ``stale_after_s`` is ``lost``.

    Stopped and lost servers are listed only with ``include_stopped``.
    """
    now = now or datetime.now(UTC)
    t = deployments_table
    query = sa.select(t).order_by(t.c.last_seen.desc()).limit(limit)
    if model is not None:
        query = query.where(t.c.model == model)
    if not include_stopped:
        query = query.where(
            t.c.status == "running", t.c.last_seen >= now - timedelta(seconds=stale_after_s)
        )
    with store.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for row in rows:
        status = row["status"]
        last_seen = row["last_seen"]
        if status == "running" and last_seen < now - timedelta(seconds=stale_after_s):
            status = "lost"
        out.append(
            Deployment(
                **{k: row[k] for k in ("server_id", "host", "pid", "address", "model")},
                model_ref=row["model_ref"],
                champion_version=row["champion_version"],
                challenger_version=row["challenger_version"],
                canary_traffic=row["canary_traffic"],
                status=status,
                started_at=row["started_at"],
                last_seen=last_seen,
                stats=json.loads(row["stats"]),
            )
        )
    return out


def set_canary_traffic(
    store: MetadataStore,
    model: str,
    traffic: float | None,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Set (or with None, clear) the canary share every server of ``model`` follows.

    Raises:
        ConfigError: ``traffic`` is not a number in [0, 1].
    """
    t = serving_settings
    if traffic is None:
        stmt: Any = sa.delete(t).where(t.c.model == model, t.c.key == CANARY_TRAFFIC)
    else:
        if (
            isinstance(traffic, bool)
            or not isinstance(traffic, int | float)
            or not math.isfinite(traffic)
            or not 0.0 <= traffic <= 1.0
        ):
            raise ConfigError(f"canary traffic must be a number in [0, 1], got {traffic!r}")
        values = {
            "model": model,
            "key": CANARY_TRAFFIC,
            "value": json.dumps(float(traffic)),
            "updated_at": now or datetime.now(UTC),
            "actor": actor,
        }
        stmt = _upsert(store.dialect, t, values, ["model", "key"])
    store.transaction(lambda conn: conn.execute(stmt))


def canary_traffic(store: MetadataStore, model: str) -> float | None:
    """The fleet-wide canary share of ``model``, or None when none was set."""
    t = serving_settings
    with store.connect() as conn:
        value = conn.execute(
            sa.select(t.c.value).where(t.c.model == model, t.c.key == CANARY_TRAFFIC)
        ).scalar_one_or_none()
    return None if value is None else float(json.loads(value))
