"""The daemon's scheduled jobs (APScheduler 3): the policy timers T1–T4 and a T5 flush every
`timers.interval_seconds` (the first run at start, so a daemon that was down catches up at
once), and the supervisors' digest on its `[report] digest` cron.

A running job holds a lock, and `shutdown` waits for it within the daemon's stop deadline:
a sweep never outlives the App and database it writes with (a batch is one transaction, so
SPEC §8's 10 s still holds). A job starting after shutdown began does nothing.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from maildesk.errors import TemporaryFailure
from maildesk.metrics import Metrics
from maildesk.report import digest
from maildesk.timers import run_timers, summary

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.daemon")


class Jobs:
    """`start()`, `reschedule()` after SIGHUP, `shutdown(timeout)`."""

    def __init__(self, app: App, metrics: Metrics, wake_sender: Callable[[], None]) -> None:
        self.app = app
        self.metrics = metrics
        self.wake_sender = wake_sender
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self._running = threading.Lock()
        self._stopping = False

    def start(self) -> None:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # no line per run
        self.scheduler.add_job(
            self._run_timers,
            "interval",
            seconds=self.app.cfg.timers.interval_seconds,
            id="timers",
            next_run_time=datetime.now(UTC),  # catch up at once after downtime
        )
        self.schedule_digest()
        self.scheduler.start()

    def schedule_digest(self) -> None:
        """The supervisors' digest on `[report] digest` (cron, support timezone), if set."""
        if self.scheduler.get_job("digest") is not None:
            self.scheduler.remove_job("digest")
        cron = digest.trigger(self.app)
        if cron is not None:
            self.scheduler.add_job(self._send_digest, cron, id="digest")

    def reschedule_timers(self) -> None:
        self.scheduler.reschedule_job(
            "timers", trigger="interval", seconds=self.app.cfg.timers.interval_seconds
        )

    def shutdown(self, timeout: float) -> None:
        """No new runs; wait up to `timeout` seconds for the one running, if any."""
        self._stopping = True
        self.scheduler.shutdown(wait=False)
        if self._running.acquire(timeout=max(0.0, timeout)):
            self._running.release()  # any job starting from now on sees _stopping
        else:
            log.warning("daemon: a scheduled job still busy at shutdown")

    def _send_digest(self) -> None:
        with self._running:
            if not self._stopping:
                self._digest_once()

    def _digest_once(self) -> None:
        try:
            queued = digest.queue_digest(self.app, self.app.now())
        except TemporaryFailure as exc:
            log.warning("digest: not sent this time: %s", exc)
            return
        except Exception:
            log.exception("digest: failed")
            return
        if queued:
            self.wake_sender()

    def _run_timers(self) -> None:
        with self._running:
            if not self._stopping:
                self._timers_once()

    def _timers_once(self) -> None:
        try:
            report = run_timers(self.app, self.app.now())
        except TemporaryFailure as exc:
            log.warning("timers: skipped this run: %s", exc)
            return
        except Exception:
            log.exception("timers: run failed")
            return
        self.metrics.add("maildesk_timer_runs_total")
        self.metrics.add("maildesk_sla_breaches_total", report.count("escalate"))
        self.metrics.add("maildesk_sla_warnings_total", report.count("warn"))
        if report.flush is not None:
            self.metrics.add("maildesk_outbox_sent_total", report.flush.sent)
            self.metrics.add("maildesk_outbox_failed_total", report.flush.failed)
            self.metrics.delivered(report.flush.latencies)
        for action in report.actions:
            log.info("timer %s", action.line())
        for error in report.errors:
            log.warning("timer error: %s", error)
        busy = report.actions or report.errors or (report.flush and report.flush.sent)
        log.log(logging.INFO if busy else logging.DEBUG, "%s", summary(self.app, report))
