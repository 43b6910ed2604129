"""Automation storage on SQLite and PostgreSQL: schema, history, locks, alert dedup + cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conveyor.automate import Alert, AlertDispatcher, AutomationStore, LogSink
from conveyor.stores import MetadataStore

T0 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
OURS = {"alerts", "trigger_firings", "trigger_state", "decisions", "agent_locks"}


def test_migration_creates_exactly_the_automation_tables(store: MetadataStore) -> None:
    from conveyor.automate import _tables
    from conveyor.stores._tables import metadata
    from conveyor.testing.schema import schema_diffs

    assert _tables.alerts.name == "alerts"  # the import registers the tables on metadata
    assert schema_diffs(store.engine, metadata, OURS) == []
    assert _tables.decisions.name == "decisions"


def test_decisions_round_trip_in_order(automation: AutomationStore) -> None:
    for i, action in enumerate(["retrain", "canary_start", "promote"]):
        automation.record_decision(
            model="churn", action=action, from_version=1, to_version=2,
            evidence={"metrics": {"roc_auc": 0.8 + i / 100}, "nan": float("nan")},
            reason=f"step {i}", created_at=T0 + timedelta(minutes=i), actor="agent h:1",
        )  # fmt: skip
    automation.record_decision(model="other", action="rollback", from_version=3, to_version=2,
                               evidence={}, reason="x", created_at=T0, actor="agent")  # fmt: skip
    got = automation.list_decisions("churn")
    assert [d.action for d in got] == ["retrain", "canary_start", "promote"]
    assert got[0].evidence == {"metrics": {"roc_auc": 0.8}, "nan": None}
    assert got[2].created_at == T0 + timedelta(minutes=2) and got[2].created_at.tzinfo is not None
    assert [d.action for d in automation.list_decisions("churn", limit=2)] == [
        "canary_start",
        "promote",
    ]
    assert [d.action for d in automation.list_decisions("churn", actions=["promote"])] == [
        "promote"
    ]
    with pytest.raises(ValueError, match="not one of"):
        automation.record_decision(model="churn", action="deploy", from_version=None,
                                   to_version=None, evidence={}, reason="", created_at=T0,
                                   actor="x")  # fmt: skip


def test_firings_and_trigger_state(automation: AutomationStore) -> None:
    automation.record_firing(model="churn", trigger="drift", fired_at=T0, action="alert",
                             evidence={"values": {"drift.share": 0.4}}, outcome="alert sent")  # fmt: skip
    automation.record_firing(model="churn", trigger="drift", fired_at=T0 + timedelta(hours=2),
                             action="alert", evidence={}, outcome="alert suppressed")  # fmt: skip
    automation.record_firing(model="churn", trigger="nightly", fired_at=T0, action="retrain",
                             evidence={}, outcome="retrained v2")  # fmt: skip
    assert automation.last_fired("churn") == {"drift": T0 + timedelta(hours=2), "nightly": T0}
    assert automation.last_fired("fraud") == {}
    firings = automation.list_firings("churn", trigger="drift")
    assert [f.outcome for f in firings] == ["alert suppressed", "alert sent"]
    assert firings[1].evidence == {"values": {"drift.share": 0.4}}
    automation.mark_checked("churn", ["drift", "nightly"], at=T0)
    automation.mark_checked("churn", ["drift"], at=T0 + timedelta(minutes=1))
    assert automation.last_checked("churn") == {
        "drift": T0 + timedelta(minutes=1),
        "nightly": T0,
    }


def test_lock_take_renew_block_expire_release(automation: AutomationStore) -> None:
    assert automation.acquire_lock("churn", holder="a", ttl_s=600, now=T0)
    assert not automation.acquire_lock("churn", holder="b", ttl_s=600, now=T0)
    assert automation.acquire_lock("fraud", holder="b", ttl_s=600, now=T0)  # per model
    # renewing keeps the first acquisition time and pushes the expiry
    assert automation.acquire_lock("churn", holder="a", ttl_s=600, now=T0 + timedelta(minutes=5))
    info = automation.lock_info("churn")
    assert info is not None and info.holder == "a"
    assert info.acquired_at == T0 and info.expires_at == T0 + timedelta(minutes=15)
    assert not automation.acquire_lock("churn", holder="b", ttl_s=600,
                                       now=T0 + timedelta(minutes=14))  # fmt: skip
    # expired: taken over
    assert automation.acquire_lock("churn", holder="b", ttl_s=600, now=T0 + timedelta(minutes=15))
    assert automation.lock_info("churn").holder == "b"
    assert not automation.release_lock("churn", holder="a")  # not a's any more
    assert automation.release_lock("churn", holder="b")
    assert automation.lock_info("churn") is None
    with pytest.raises(ValueError, match="positive"):
        automation.acquire_lock("churn", holder="a", ttl_s=0, now=T0)


class Recording:
    label = "recording"

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self.fail = False

    def send(self, alert: Alert, *, created_at: datetime) -> None:
        from conveyor.automate import DeliveryError

        if self.fail:
            raise DeliveryError("down", attempts=2)
        self.sent.append(alert)


def test_alert_dedup_and_cooldown(automation: AutomationStore, clock, tmp_path: Path) -> None:
    sink = Recording()
    dispatcher = AlertDispatcher(automation, [sink], cooldown_s=3600, clock=clock)
    alert = Alert(model="churn", key="churn:trigger:drift", title="drift", message="m",
                  evidence={"drift.share": 0.4})  # fmt: skip
    first = dispatcher.send(alert)
    assert first.status == "sent" and len(sink.sent) == 1
    # the condition stays true: one page per cooldown, repeats counted on the first alert
    for _ in range(5):
        clock.advance(minutes=1)
        assert dispatcher.send(alert).status == "suppressed"
    assert len(sink.sent) == 1
    (stored,) = automation.list_alerts("churn")
    assert stored.repeats == 5 and stored.last_seen_at == clock.now
    assert stored.evidence == {"drift.share": 0.4} and stored.delivered == ["recording"]
    # another key is not suppressed
    other = Alert(model="churn", key="churn:trigger:latency", title="lat", message="m")
    assert dispatcher.send(other).status == "sent"
    # after the cooldown it pages again
    clock.now = T0 + timedelta(hours=1)
    assert dispatcher.send(alert).status == "sent" and len(sink.sent) == 3
    # an alert no sink took does not silence the next one
    sink.fail = True
    clock.advance(hours=2)
    failed = dispatcher.send(alert)
    assert failed.status == "failed" and failed.failed[0]["attempts"] == 2
    sink.fail = False
    clock.advance(minutes=1)
    assert dispatcher.send(alert).status == "sent"
    statuses = [a.status for a in automation.list_alerts("churn")]
    assert statuses == ["sent", "failed", "sent", "sent", "sent"]
    # per-call cooldown override
    clock.advance(minutes=1)
    assert dispatcher.send(alert, cooldown_s=30).status == "sent"


def test_alerts_with_a_log_sink_only(automation: AutomationStore, tmp_path: Path) -> None:
    dispatcher = AlertDispatcher(automation, [LogSink(tmp_path / "a.jsonl")], cooldown_s=60)
    outcome = dispatcher.send(Alert(model="m", key="m:k", title="t", message="x"))
    assert outcome.status == "sent" and outcome.alert_id is not None
    assert (
        AlertDispatcher(automation, [], cooldown_s=0)
        .send(Alert(model="m", key="m:other", title="t", message="x"))
        .status
        == "recorded"
    )
