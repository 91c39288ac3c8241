"""The daemon's inbound channel: the IMAP consumer (under the mailbox lock, so one daemon
consumes a mailbox at a time), or the SMTP/LMTP listener, or nothing (`inbound.mode`).

The channel gets the pipeline wrapped so the metrics count what happened to every message,
failures included: a temporary failure (the database away), a bug, a quarantine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from maildesk.channels.imap import ImapConsumer
from maildesk.channels.imap_session import settings_from_config
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.errors import TemporaryFailure
from maildesk.locks import MailboxLock, mailbox_lock
from maildesk.metrics import Metrics
from maildesk.pipeline.accept import accept, accept_batch
from maildesk.pipeline.outcome import Outcome
from maildesk.pipeline.quarantine import quarantine

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.daemon")

IMAP_THREAD = "maildesk-imap"
Spawn = Callable[[str, Callable[[], None]], None]


class Counted:
    """The pipeline as a channel calls it, counting failures in the daemon's metrics."""

    def __init__(self, app: App, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def accept(self, raw: bytes, source: str) -> Outcome:
        try:
            return accept(self.app, raw, source)
        except TemporaryFailure:
            self.metrics.inbound_outcome("temporary_failure")
            raise
        except Exception:
            self.metrics.inbound_outcome("error")
            raise

    def accept_batch(self, items: list[tuple[bytes, str]]) -> list[Outcome | Exception]:
        """The batch accept (group commit), with the same failure counts."""
        try:
            results = accept_batch(self.app, items)
        except TemporaryFailure:
            self.metrics.inbound_outcome("temporary_failure")
            raise
        for result in results:
            if isinstance(result, Exception):
                self.metrics.inbound_outcome("error")
        return results

    def quarantine(self, raw: bytes, source: str, error: str) -> None:
        qid = quarantine(self.app, raw, source, error)
        self.metrics.inbound_outcome("quarantined")
        first = error.strip().splitlines()[-1] if error.strip() else ""
        log.error("inbound source=%s outcome=quarantined id=%s error=%s", source, qid, first)


class Inbound:
    """The channel `inbound.mode` names, started by `start()`; what it is doing, in words and
    as gauges."""

    def __init__(self, app: App, metrics: Metrics, stop: threading.Event) -> None:
        self.app = app
        self.metrics = metrics
        self.stop = stop
        self.consumer: ImapConsumer | None = None
        self.lock: MailboxLock | None = None
        self.listener: ListenerThread | None = None

    def start(
        self, spawn: Spawn, *, imap_overrides: dict[str, Any], lock_retry_seconds: float
    ) -> None:
        """IMAP: the consumer on its own thread (`spawn`), behind the mailbox lock, so a second
        daemon on this mailbox waits as a standby. SMTP/LMTP: the listener's own thread."""
        mode = self.app.cfg.inbound.mode
        if mode == "imap":
            settings = settings_from_config(self.app.cfg, **imap_overrides)
            name = f"imap:{settings.host}:{settings.port}:{settings.username}:{settings.folder}"
            self.lock = mailbox_lock(self.app, name, self.stop, lock_retry_seconds)
            pipeline = Counted(self.app, self.metrics)
            consumer = self.consumer = ImapConsumer(
                settings,
                accept=pipeline.accept,
                accept_batch=pipeline.accept_batch,
                on_quarantine=pipeline.quarantine,
                log=logging.getLogger("maildesk.imap"),
                lock=self.lock,
            )
            spawn(IMAP_THREAD, lambda: consumer.run(self.stop))
        elif mode in ("smtp", "lmtp"):
            self.listener = ListenerThread(self.app, mode)
            self.listener.start()

    def status(self) -> str:
        """The inbound half of the line for systemctl status."""
        if self.consumer is not None:
            standby = self.lock is not None and self.lock.standby
            return f"imap {'standby' if standby else self.consumer.state}"
        if self.listener is not None:
            mode = self.app.cfg.inbound.mode
            return f"{mode} listening on {self.listener.host}:{self.listener.port}"
        return "no inbound channel"

    def gauges(self) -> dict[str, float | None]:
        if self.consumer is None:
            return {}
        return {
            "maildesk_imap_connected": 1 if self.consumer.state in ("connected", "idle") else 0,
            "maildesk_imap_standby": 1 if self.lock is not None and self.lock.standby else 0,
        }
