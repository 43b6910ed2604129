"""Webhook alerts against a real HTTP receiver on loopback: Slack JSON, retries, unreachable."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conveyor.automate import (
    Alert,
    AlertDispatcher,
    AutomationStore,
    DeliveryError,
    LogSink,
    WebhookSink,
)

T0 = datetime(2026, 11, 29, 2, tzinfo=UTC)
ALERT = Alert(
    model="churn",
    key="churn:trigger:drift",
    title="churn: trigger drift fired",
    message="drift.share > 0.3 (drift.share 0.41)",
    evidence={"values": {"drift.share": 0.41}, "window": "7d"},
)


class Receiver:
    """A real HTTP server on 127.0.0.1 that records JSON bodies; answers from a script."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []  # answered in order; then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.headers.append(dict(self.headers))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens here any more


def test_slack_compatible_body_and_headers(receiver: Receiver) -> None:
    sink = WebhookSink(receiver.url, headers={"X-Team": "ml"})
    sink.send(ALERT, created_at=T0)
    (body,) = receiver.bodies
    assert body["text"] == "[warning] churn: trigger drift fired"
    assert body["attachments"][0]["text"] == ALERT.message
    assert {f["title"] for f in body["attachments"][0]["fields"]} == {"values", "window"}
    assert receiver.headers[0]["X-Team"] == "ml"
    assert receiver.headers[0]["Content-Type"] == "application/json"


def test_json_format_sends_the_alert_record(receiver: Receiver) -> None:
    WebhookSink(receiver.url, format="json").send(ALERT, created_at=T0)
    (body,) = receiver.bodies
    assert body["key"] == "churn:trigger:drift" and body["evidence"]["window"] == "7d"
    assert body["created_at"] == "2026-11-29T02:00:00+00:00"


def test_server_errors_are_retried_with_backoff(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    sleeps: list[float] = []
    WebhookSink(receiver.url, retries=3, sleep=sleeps.append).send(ALERT, created_at=T0)
    assert len(receiver.bodies) == 3 and sleeps == [0.5, 1.0]


def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    sleeps: list[float] = []
    with pytest.raises(DeliveryError, match="HTTP 400") as info:
        WebhookSink(receiver.url, retries=3, sleep=sleeps.append).send(ALERT, created_at=T0)
    assert info.value.attempts == 1 and sleeps == [] and len(receiver.bodies) == 1


def test_rate_limit_is_retried_then_given_up(receiver: Receiver) -> None:
    receiver.statuses = [429, 429, 429]
    with pytest.raises(DeliveryError, match="HTTP 429") as info:
        WebhookSink(receiver.url, retries=2, sleep=lambda s: None).send(ALERT, created_at=T0)
    assert info.value.attempts == 3


def test_unreachable_webhook_is_retried_recorded_and_the_rest_goes_on(
    receiver: Receiver, store, tmp_path: Path
) -> None:
    automation = AutomationStore(store)
    dead_url = closed_port_url()
    sleeps: list[float] = []
    dead = WebhookSink(dead_url, retries=2, timeout_s=2.0, backoff_s=0.01, sleep=sleeps.append)
    live = WebhookSink(receiver.url)
    log_sink = LogSink(tmp_path / "alerts.jsonl")
    dispatcher = AlertDispatcher(automation, [dead, live, log_sink], cooldown_s=3600)
    outcome = dispatcher.send(ALERT)
    assert outcome.status == "partial"
    assert outcome.delivered == (live.label, log_sink.label)
    (failure,) = outcome.failed
    assert failure["sink"] == "webhook(127.0.0.1)" and failure["attempts"] == 3
    assert "ConnectError" in failure["error"]
    assert sleeps == [0.01, 0.02]
    assert len(receiver.bodies) == 1 and (tmp_path / "alerts.jsonl").read_text()
    (stored,) = automation.list_alerts("churn")
    assert stored.status == "partial" and stored.failed == [failure]
    # the secret in the URL is stored nowhere
    raw = json.dumps([stored.failed, stored.delivered])
    assert "secret-token" not in raw and dead_url not in raw
    # and the next, different alert still goes out
    again = dispatcher.send(Alert(model="churn", key="churn:other", title="t", message="m"))
    assert again.status == "partial" and len(receiver.bodies) == 2


def test_only_an_unreachable_webhook_does_not_silence_the_next_alert(store) -> None:
    automation = AutomationStore(store)
    dead = WebhookSink(closed_port_url(), retries=0, timeout_s=2.0)
    dispatcher = AlertDispatcher(automation, [dead], cooldown_s=3600)
    assert dispatcher.send(ALERT).status == "failed"
    assert dispatcher.send(ALERT).status == "failed"  # not "suppressed": nobody was told
    assert [a.status for a in automation.list_alerts("churn")] == ["failed", "failed"]
