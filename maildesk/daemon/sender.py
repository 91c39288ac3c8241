"""The daemon's sender thread: flushes the outbox whenever a row is due (T5).

Woken at once by the daemon after a local accept; otherwise a cheap indexed poll, because
other processes (`ingest`, `timers run`) cannot signal it. A failed connection to the SMTP
server is the server's problem, not the messages': the loop backs off without touching the
rows, so an outage costs no mail one of its `outbound.max_attempts`.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from maildesk.backoff import Backoff
from maildesk.errors import TemporaryFailure
from maildesk.metrics import Metrics
from maildesk.outbound.sender import flush
from maildesk.outbound.transports import SmtpTransport, TransportUnavailable
from maildesk.store.models import Outbox

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.daemon")


class OutboxSender:
    """`run()` until `stop` is set; `wake()` to look at the outbox now."""

    def __init__(
        self,
        app: App,
        metrics: Metrics,
        stop: threading.Event,
        *,
        poll_seconds: float,
        retry: Backoff,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.stop = stop
        self.poll_seconds = poll_seconds
        self.retry = retry
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        down_since: float | None = None
        while not self.stop.is_set():
            wait = self.poll_seconds
            try:
                if self._due():
                    self.flush_once()
                if down_since is not None:
                    log.info(
                        "outbox: smtp reachable again after %.0f s", time.monotonic() - down_since
                    )
                    down_since = None
                self.retry.reset()
            except (TransportUnavailable, TemporaryFailure) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("outbox: %s; retrying with backoff", exc)
                else:
                    log.debug("outbox: still unavailable: %s", exc)
                wait = self.retry.next_delay()
            except Exception:
                log.exception("outbox: unexpected error")
                wait = self.retry.next_delay()
            self._wake.wait(wait)
            self._wake.clear()

    def _due(self) -> bool:
        """One indexed probe (ix_outbox_due) so an idle daemon costs next to nothing."""
        now = datetime.now(UTC)
        with self.app.db.transaction() as s:
            q = (
                select(Outbox.id)
                .where(Outbox.state.in_(("pending", "sending")), Outbox.due_at <= now)
                .limit(1)
            )
            return s.scalar(q) is not None

    def flush_once(self) -> None:
        transport = None
        if self.app.cfg.outbound.mode == "smtp":
            transport = SmtpTransport(self.app)
            # Connect before claiming rows: an unreachable server must not cost every due
            # message one of its `max_attempts` (TransportUnavailable: the loop backs off).
            transport.connect()
        try:
            report = flush(self.app, transport=transport)
        finally:
            if transport is not None:
                transport.close()
        self.metrics.add("maildesk_outbox_sent_total", report.sent)
        self.metrics.add("maildesk_outbox_failed_total", report.failed)
        self.metrics.delivered(report.latencies)
        if report.sent or report.retried or report.failed:
            log.info(
                "outbox sent=%d retry_later=%d failed=%d%s",
                report.sent, report.retried, report.failed,
                f" first_error={report.errors[0]}" if report.errors else "",
            )  # fmt: skip
