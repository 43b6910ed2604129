"""Server heartbeats and the fleet canary share, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor.errors import ConfigError
from conveyor.stores._deployment_tables import deployments as deployments_table
from conveyor.stores.deployments import (
    Heartbeat,
    canary_traffic,
    list_deployments,
    mark_stopped,
    set_canary_traffic,
    write_heartbeat,
)
from conveyor.stores.metadata import MetadataStore

T0 = datetime(2026, 11, 29, 10, tzinfo=UTC)
OURS = {"deployments", "serving_settings"}


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    with MetadataStore(metadata_url) as opened:
        yield opened


def beat(server_id: str = "s1", **kw: Any) -> Heartbeat:
    values: dict[str, Any] = {
        "server_id": server_id,
        "host": "box",
        "pid": 123,
        "address": "http://127.0.0.1:8000",
        "model": "churn",
        "model_ref": "churn@champion",
        "champion_version": 1,
        "challenger_version": None,
        "canary_traffic": None,
        "stats": {"request_rate": 12.5, "latency_p99_ms": 3.1, "error_rate": 0.0},
    }
    values.update(kw)
    return Heartbeat(**values)


def test_migration_creates_exactly_the_deployment_tables(store: MetadataStore) -> None:
    from conveyor.testing.schema import schema_diffs

    assert schema_diffs(store.engine, deployments_table.metadata, OURS) == []


def test_heartbeat_upserts_one_row_per_server_and_keeps_started_at(store: MetadataStore) -> None:
    write_heartbeat(store, beat(), now=T0)
    write_heartbeat(
        store, beat(champion_version=2, stats={"request_rate": 99.0}), now=T0 + timedelta(seconds=5)
    )
    write_heartbeat(
        store, beat("s2", model="other", model_ref="other@champion"), now=T0 + timedelta(seconds=5)
    )
    found = list_deployments(store, now=T0 + timedelta(seconds=10))
    assert [d.server_id for d in found] == ["s1", "s2"] or [d.server_id for d in found] == [
        "s2",
        "s1",
    ]
    s1 = next(d for d in found if d.server_id == "s1")
    assert s1.champion_version == 2 and s1.stats == {"request_rate": 99.0}
    assert s1.started_at == T0 and s1.last_seen == T0 + timedelta(seconds=5)
    assert s1.status == "running"
    assert [d.server_id for d in list_deployments(store, model="other", now=T0)] == ["s2"]
    assert s1.to_dict()["started_at"] == T0.isoformat()


def test_silent_servers_are_lost_and_stopped_ones_hidden_by_default(store: MetadataStore) -> None:
    write_heartbeat(store, beat("alive"), now=T0 + timedelta(seconds=100))
    write_heartbeat(store, beat("silent"), now=T0)
    write_heartbeat(store, beat("done"), now=T0 + timedelta(seconds=90))
    mark_stopped(store, "done", now=T0 + timedelta(seconds=95))
    now = T0 + timedelta(seconds=110)
    assert [d.server_id for d in list_deployments(store, now=now)] == ["alive"]
    every = {d.server_id: d.status for d in list_deployments(store, include_stopped=True, now=now)}
    assert every == {"alive": "running", "silent": "lost", "done": "stopped"}


def test_fleet_canary_share_set_changed_cleared(store: MetadataStore) -> None:
    assert canary_traffic(store, "churn") is None
    set_canary_traffic(store, "churn", 0.25, actor="ui:alice", now=T0)
    set_canary_traffic(store, "churn", 1, actor="api:ops")
    assert canary_traffic(store, "churn") == 1.0
    assert canary_traffic(store, "other") is None
    set_canary_traffic(store, "churn", None, actor="api:ops")
    assert canary_traffic(store, "churn") is None


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), float("inf"), True, "0.5"])
def test_fleet_canary_share_must_be_a_share(store: MetadataStore, bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        set_canary_traffic(store, "churn", bad, actor="t")
    assert canary_traffic(store, "churn") is None
