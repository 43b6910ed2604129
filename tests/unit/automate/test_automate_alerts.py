"""Alert payloads and the log and command sinks; delivery outcomes without a store."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor.automate import (
    Alert,
    AlertDispatcher,
    CommandSink,
    DeliveryError,
    LogSink,
    WebhookSink,
    build_sinks,
)
from conveyor.config._monitoring import AlertsConfig

T0 = datetime(2026, 11, 29, 2, tzinfo=UTC)
ALERT = Alert(
    model="churn",
    key="churn:trigger:drift",
    title="churn: trigger drift fired",
    message="drift.share > 0.3 (drift.share 0.41)",
    severity="warning",
    evidence={"values": {"drift.share": 0.41}, "window": "7d", "nan": float("nan")},
)


def test_slack_payload_has_text_and_the_evidence() -> None:
    body = ALERT.slack_payload()
    assert body["text"] == "[warning] churn: trigger drift fired"
    (attachment,) = body["attachments"]
    assert attachment["text"] == ALERT.message
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields == {"values": '{"drift.share": 0.41}', "window": "7d", "nan": "null"}
    json.dumps(body, allow_nan=False)  # NaN never reaches the wire


def test_json_payload_is_the_whole_alert() -> None:
    data = ALERT.to_dict(created_at=T0)
    assert data["created_at"] == "2026-11-29T02:00:00+00:00"
    assert data["evidence"]["nan"] is None and data["key"] == "churn:trigger:drift"


def test_log_sink_logs_and_appends_json_lines(tmp_path: Path, caplog) -> None:
    sink = LogSink(tmp_path / "logs" / "alerts.jsonl")
    with caplog.at_level(logging.WARNING, logger="conveyor.alerts"):
        sink.send(ALERT, created_at=T0)
        sink.send(ALERT, created_at=T0)
    lines = (tmp_path / "logs" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(x)["title"] for x in lines] == [ALERT.title] * 2
    assert "churn: trigger drift fired" in caplog.text


def test_log_sink_that_cannot_write_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DeliveryError, match="cannot append"):
        LogSink(tmp_path / "file" / "alerts.jsonl").send(ALERT, created_at=T0)


def test_command_sink_gets_the_alert_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    code = f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())"
    CommandSink([sys.executable, "-c", code]).send(ALERT, created_at=T0)
    assert json.loads(out.read_text())["message"] == ALERT.message


def test_command_sink_failures_are_retried_then_reported(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    code = (
        f"import sys; p={str(counter)!r}; import os;"
        "n=int(open(p).read()) if os.path.exists(p) else 0; open(p,'w').write(str(n+1));"
        "sys.stderr.write('pager down\\n'); sys.exit(3)"
    )
    sleeps: list[float] = []
    sink = CommandSink([sys.executable, "-c", code], retries=2, sleep=sleeps.append)
    with pytest.raises(DeliveryError, match="exit code 3: pager down") as info:
        sink.send(ALERT, created_at=T0)
    assert info.value.attempts == 3 and counter.read_text() == "3"
    assert sleeps == [0.5, 1.0]
    with pytest.raises(DeliveryError, match="not found"):
        CommandSink([str(tmp_path / "no-such-program")]).send(ALERT, created_at=T0)
    slow = CommandSink([sys.executable, "-c", "import time; time.sleep(5)"], timeout_s=0.2)
    with pytest.raises(DeliveryError, match="TimeoutExpired"):
        slow.send(ALERT, created_at=T0)


class Broken:
    label = "broken"

    def send(self, alert: Alert, *, created_at: datetime) -> None:
        raise RuntimeError("bug in a sink")


def test_dispatcher_outcomes_without_a_store(tmp_path: Path) -> None:
    ok = LogSink(tmp_path / "a.jsonl")
    assert AlertDispatcher(None, [ok], cooldown_s=60).send(ALERT).status == "sent"
    partial = AlertDispatcher(None, [Broken(), ok], cooldown_s=60).send(ALERT)
    assert partial.status == "partial" and partial.delivered == ("log(a.jsonl)",)
    assert partial.failed[0]["error"] == "RuntimeError: bug in a sink"
    assert AlertDispatcher(None, [Broken()], cooldown_s=60).send(ALERT).status == "failed"
    assert AlertDispatcher(None, [], cooldown_s=60).send(ALERT).status == "recorded"


def test_build_sinks_from_config(tmp_path: Path) -> None:
    config = AlertsConfig.model_validate(
        {
            "sinks": [
                {"type": "webhook", "url": "https://hooks.example.org/T000/B000/secret",
                 "retries": 1, "format": "json"},
                {"type": "log", "path": "alerts.jsonl"},
                {"type": "command", "command": ["notify", "--now"]},
            ]
        }
    )  # fmt: skip
    webhook, log_sink, command = build_sinks(config, root=tmp_path)
    assert isinstance(webhook, WebhookSink)
    assert webhook.label == "webhook[0](hooks.example.org)"  # the secret path never shows
    assert (webhook.retries, webhook.format) == (1, "json")
    assert isinstance(log_sink, LogSink) and log_sink.path == tmp_path / "alerts.jsonl"
    assert isinstance(command, CommandSink) and command.cwd == tmp_path
