"""Alerts: sinks (webhook, log, command), deduplication with a cooldown, history in the store.

An :class:`Alert` has a ``key`` (what it is about, e.g.
``churn:trigger:accuracy_drop``). The :class:`AlertDispatcher` sends it to
every sink unless an alert with the same key went out less than ``cooldown``
ago, in which case the earlier alert's ``repeats`` counter goes up instead: a
condition that stays true pages once per cooldown, not once per minute.

A sink that fails (an unreachable webhook, a command that exits non-zero) is
retried with backoff, then recorded as failed; the other sinks still get the
alert and the caller carries on. An alert no sink took does not silence the
next one.

Example:
    >>> dispatcher = AlertDispatcher(automation, [LogSink()], cooldown_s=3600)  # doctest: +SKIP
    >>> dispatcher.send(Alert(model="churn", key="churn:drift", title="drift",
    ...                       message="drift.share 0.41 > 0.3"))  # doctest: +SKIP
    AlertOutcome(status='sent', ...)
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

from conveyor.automate.store import jsonable

if TYPE_CHECKING:
    from conveyor.automate.store import AutomationStore
    from conveyor.config._monitoring import AlertsConfig, AlertSinkConfig

__all__ = [
    "Alert",
    "AlertDispatcher",
    "AlertOutcome",
    "AlertSink",
    "CommandSink",
    "DeliveryError",
    "LogSink",
    "Severity",
    "WebhookSink",
    "build_sinks",
]

log = logging.getLogger("conveyor.alerts")

Severity = Literal["info", "warning", "critical"]
_COLOURS = {"info": "#2eb886", "warning": "#daa038", "critical": "#a30200"}
_LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


@dataclass(frozen=True)
class Alert:
    """Something a person should know about a model.

    Attributes:
        model: the model it is about.
        key: what it is about; alerts with the same key are deduplicated.
        title: one line.
        message: the details (plain text).
        severity: info, warning or critical.
        evidence: the numbers behind it (metrics, thresholds, versions).
    """

    model: str
    key: str
    title: str
    message: str
    severity: Severity = "warning"
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, *, created_at: datetime | None = None) -> dict[str, Any]:
        """The alert as plain JSON data (what ``json`` webhooks, logs and commands receive)."""
        return {
            "model": self.model,
            "key": self.key,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "evidence": jsonable(dict(self.evidence)),
            "created_at": (created_at or datetime.now(UTC)).isoformat(),
            "source": "conveyor",
        }

    def slack_payload(self) -> dict[str, Any]:
        """A Slack incoming-webhook body: ``text`` plus one attachment with the evidence."""
        fields = [
            {"title": str(k), "value": _short(v), "short": len(_short(v)) < 40}
            for k, v in jsonable(dict(self.evidence)).items()
        ]
        return {
            "text": f"[{self.severity}] {self.title}",
            "attachments": [
                {
                    "color": _COLOURS[self.severity],
                    "fallback": f"[{self.severity}] {self.title}: {self.message}",
                    "text": self.message,
                    "fields": fields,
                    "footer": f"conveyor · {self.model}",
                }
            ],
        }


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 300 else text[:299] + "…"


class DeliveryError(Exception):
    """A sink could not deliver an alert (after its retries)."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class AlertSink(Protocol):
    """Where alerts go. ``send`` raises :class:`DeliveryError` when it could not deliver."""

    label: str

    def send(self, alert: Alert, *, created_at: datetime) -> None: ...


class WebhookSink:
    """POST the alert as JSON: Slack-compatible (``format="slack"``) or the raw alert (``json``).

    Connection errors, timeouts, HTTP 429 and 5xx are retried ``retries`` times
    with exponential backoff; other 4xx answers are not (the request itself is
    wrong). The URL is never logged or stored: it often carries a secret.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        format: Literal["slack", "json"] = "slack",
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        label: str | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.retries = retries
        self.format = format
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.label = label or f"webhook({urlsplit(url).hostname or '?'})"

    def send(self, alert: Alert, *, created_at: datetime) -> None:
        import httpx

        body = (
            alert.slack_payload()
            if self.format == "slack"
            else alert.to_dict(created_at=created_at)
        )
        attempts = 0
        while True:
            attempts += 1
            try:
                response = httpx.post(
                    self.url,
                    json=body,
                    headers={"User-Agent": "conveyor-alerts", **self.headers},
                    timeout=self.timeout_s,
                )
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {_no_url(str(exc), self.url)}"
                retry = True
            else:
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
                retry = response.status_code == 429 or response.status_code >= 500
            if not retry or attempts > self.retries:
                raise DeliveryError(problem, attempts=attempts)
            self._sleep(min(self.backoff_s * 2 ** (attempts - 1), 30.0))


def _no_url(text: str, url: str) -> str:
    return text.replace(url, "<url>") if url else text


class LogSink:
    """Write the alert to the ``conveyor.alerts`` logger, and as a JSON line to ``path`` if given."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.label = f"log({self.path.name})" if self.path is not None else "log"

    def send(self, alert: Alert, *, created_at: datetime) -> None:
        title = alert.title
        if not title.startswith(f"{alert.model}:"):
            title = f"{alert.model}: {title}"
        log.log(_LOG_LEVELS[alert.severity], "%s — %s", title, alert.message)
        if self.path is None:
            return
        line = json.dumps(alert.to_dict(created_at=created_at), default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:
            raise DeliveryError(f"cannot append to {self.path}: {exc.strerror or exc}") from exc


class CommandSink:
    """Run a program (argv list, no shell) with the alert JSON on its stdin.

    A non-zero exit, a timeout or a program that cannot start is a failure,
    retried like a webhook.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        timeout_s: float = 5.0,
        retries: int = 0,
        cwd: str | os.PathLike[str] | None = None,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not command:
            raise ValueError("a command sink needs a program")
        self.command = [str(c) for c in command]
        self.timeout_s = timeout_s
        self.retries = retries
        self.cwd = cwd
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.label = f"command({Path(self.command[0]).name})"

    def send(self, alert: Alert, *, created_at: datetime) -> None:
        payload = json.dumps(alert.to_dict(created_at=created_at), default=str)
        attempts = 0
        while True:
            attempts += 1
            try:
                proc = subprocess.run(
                    self.command,
                    input=payload,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout_s,
                    cwd=self.cwd,
                    check=False,
                )
            except FileNotFoundError:
                raise DeliveryError(
                    f"program {self.command[0]!r} not found", attempts=attempts
                ) from None
            except (OSError, subprocess.SubprocessError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if proc.returncode == 0:
                    return
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
                problem = f"exit code {proc.returncode}" + (f": {tail[0][:200]}" if tail[0] else "")
            if attempts > self.retries:
                raise DeliveryError(problem, attempts=attempts)
            self._sleep(min(self.backoff_s * 2 ** (attempts - 1), 30.0))


def build_sinks(config: AlertsConfig, *, root: Path) -> list[AlertSink]:
    """The sinks of the ``alerts`` section (relative log paths and commands run in ``root``).

    Example:
        >>> build_sinks(project.config.alerts, root=project.root)  # doctest: +SKIP
        [<LogSink>]
    """
    sinks: list[AlertSink] = []
    for index, sink in enumerate(config.sinks):
        sinks.append(_build_sink(sink, index=index, root=root))
    return sinks


def _build_sink(sink: AlertSinkConfig, *, index: int, root: Path) -> AlertSink:
    if sink.type == "webhook":
        assert sink.url is not None
        host = urlsplit(sink.url).hostname or "?"
        return WebhookSink(
            sink.url,
            headers=sink.headers,
            timeout_s=sink.timeout_s,
            retries=sink.retries,
            format=sink.format,
            label=f"webhook[{index}]({host})",
        )
    if sink.type == "command":
        assert sink.command is not None
        return CommandSink(sink.command, timeout_s=sink.timeout_s, retries=sink.retries, cwd=root)
    path = None if sink.path is None else (root / sink.path)
    return LogSink(path)


@dataclass(frozen=True)
class AlertOutcome:
    """What :meth:`AlertDispatcher.send` did.

    Attributes:
        status: ``sent``, ``partial``, ``failed``, ``recorded`` (no sinks) or
            ``suppressed`` (same key inside the cooldown: counted, not sent).
        alert_id: the stored alert (for ``suppressed``: the earlier one counted).
    """

    status: str
    alert_id: int | None
    delivered: tuple[str, ...] = ()
    failed: tuple[dict[str, Any], ...] = ()


class AlertDispatcher:
    """Send alerts to every sink, deduplicated by key within a cooldown, and store them.

    Args:
        store: where alert history lives (None: nothing stored, nothing deduplicated).
        sinks: where alerts go.
        cooldown_s: an alert with the same key is not sent again for this long.
        clock: the current time (timezone-aware UTC).
    """

    def __init__(
        self,
        store: AutomationStore | None,
        sinks: Sequence[AlertSink],
        *,
        cooldown_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.cooldown_s = cooldown_s
        self.clock = clock

    def send(self, alert: Alert, *, cooldown_s: float | None = None) -> AlertOutcome:
        """Deliver ``alert`` (or count it as a repeat); never raises for a failing sink."""
        now = self.clock()
        window = self.cooldown_s if cooldown_s is None else cooldown_s
        if self.store is not None:
            last = self.store.last_sent_alert(alert.key)
            if last is not None and (now - last.created_at).total_seconds() < window:
                self.store.repeat_alert(last.id, seen_at=now)
                return AlertOutcome("suppressed", last.id)
        delivered: list[str] = []
        failed: list[dict[str, Any]] = []
        for sink in self.sinks:
            try:
                sink.send(alert, created_at=now)
            except DeliveryError as exc:
                failed.append({"sink": sink.label, "error": str(exc), "attempts": exc.attempts})
                log.warning("alert %r not delivered to %s: %s", alert.key, sink.label, exc)
            except Exception as exc:  # a sink bug must not stop the agent
                failed.append(
                    {"sink": sink.label, "error": f"{type(exc).__name__}: {exc}", "attempts": 1}
                )
                log.exception("alert sink %s failed", sink.label)
            else:
                delivered.append(sink.label)
        if not self.sinks:
            status = "recorded"
        elif not failed:
            status = "sent"
        else:
            status = "partial" if delivered else "failed"
        alert_id = None
        if self.store is not None:
            alert_id = self.store.record_alert(
                model=alert.model,
                key=alert.key,
                severity=alert.severity,
                title=alert.title,
                message=alert.message,
                evidence=alert.evidence,
                created_at=now,
                delivered=delivered,
                failed=failed,
                status=status,
            )
        return AlertOutcome(status, alert_id, tuple(delivered), tuple(failed))
