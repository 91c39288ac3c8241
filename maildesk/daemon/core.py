"""The Daemon: starts the workers in order, watches them from the main thread, stops them
within SPEC §8's 10 s. What each worker does is its own module (`inbound`, `sender`,
`jobs`); SIGHUP is `reload`."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler

from maildesk.allocator import return_large_buffers
from maildesk.backoff import Backoff
from maildesk.channels.imap import ImapConsumer
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.daemon.inbound import IMAP_THREAD, Inbound
from maildesk.daemon.jobs import Jobs
from maildesk.daemon.reload import reload
from maildesk.daemon.sender import OutboxSender
from maildesk.errors import MaildeskError
from maildesk.locks import MailboxLock, exclusive
from maildesk.metrics import Metrics, MetricsServer
from maildesk.notify import notify, watchdog_interval
from maildesk.outbound.sender import pending_count
from maildesk.pipeline.outcome import Outcome

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.daemon")

STOP_TIMEOUT = 8.0  # SPEC §8: exit within 10 s of SIGTERM; keep margin for interpreter exit


class Daemon:
    """One daemon process: start(), stop(), or run_forever() to do both around signals."""

    def __init__(self, app: App, config_path: str | None = None) -> None:
        self.app = app
        self.config_path = config_path
        self.stop_event = threading.Event()
        self.metrics = Metrics(self.gauges)
        self.inbound = Inbound(app, self.metrics, self.stop_event)
        self.sender: OutboxSender | None = None
        self.jobs: Jobs | None = None
        self.metrics_server: MetricsServer | None = None
        self.exit_code = 0
        self._threads: list[threading.Thread] = []
        self._main_wake = threading.Event()
        self._reload_requested = threading.Event()
        self._stopped = False
        # Tunables (tests shrink them).
        self.outbox_poll_seconds = 0.5
        self.outbox_backoff_initial = 1.0
        self.outbox_backoff_max = 30.0
        self.lock_retry_seconds = 2.0
        self.imap_overrides: dict[str, Any] = {}

    @property
    def consumer(self) -> ImapConsumer | None:
        return self.inbound.consumer

    @property
    def lock(self) -> MailboxLock | None:
        return self.inbound.lock

    @property
    def listener(self) -> ListenerThread | None:
        return self.inbound.listener

    @property
    def scheduler(self) -> BackgroundScheduler | None:
        return self.jobs.scheduler if self.jobs is not None else None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Schema and agents, then workers, then the inbound channel last: mail is only
        taken in once everything that handles it runs. READY=1 once the channel is up."""
        cfg = self.app.cfg
        return_large_buffers()  # a 25 MiB mail's buffers go back to the system when freed
        with exclusive(self.app, "maildesk:prepare"):  # two daemons starting on one new DB
            self.app.prepare()
        _ = self.app.templates  # broken override templates fail the start, not the first mail
        self.app.outcome_listeners.append(self._on_outcome)
        self.app.ingest_listeners.append(self.metrics.ingested)
        if cfg.metrics.listen:
            self.metrics_server = MetricsServer(cfg.metrics.listen, self.metrics)
            self.metrics_server.start()
        retry = Backoff(self.outbox_backoff_initial, self.outbox_backoff_max)
        self.sender = OutboxSender(
            self.app,
            self.metrics,
            self.stop_event,
            poll_seconds=self.outbox_poll_seconds,
            retry=retry,
        )
        self._spawn("maildesk-sender", self.sender.run)
        self.jobs = Jobs(self.app, self.metrics, lambda: self.wake_sender())
        self.jobs.start()
        self.inbound.start(
            self._spawn,
            imap_overrides=self.imap_overrides,
            lock_retry_seconds=self.lock_retry_seconds,
        )
        log.info(
            "daemon started: inbound=%s outbound=%s database=%s timers every %gs",
            cfg.inbound.mode, cfg.outbound.mode, self.app.db.dialect,
            cfg.timers.interval_seconds,
        )  # fmt: skip
        notify("READY=1", f"STATUS={self.status()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop taking mail, let the message in hand finish, stop the workers. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        deadline = time.monotonic() + timeout
        notify("STOPPING=1", "STATUS=stopping")
        log.info("daemon stopping")
        self.stop_event.set()
        self.wake_sender()
        self._main_wake.set()
        if self.listener is not None:
            # Refuses new connections, then waits for a DATA already in the pipeline.
            _bounded(self.listener.stop, deadline - time.monotonic(), "smtp listener stop")
        if self.jobs is not None:
            self.jobs.shutdown(deadline - time.monotonic())
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("daemon: %s still busy at shutdown", t.name)
        consumer_done = not any(t.is_alive() for t in self._threads if t.name == IMAP_THREAD)
        if self.lock is not None and consumer_done:
            self.lock.release()  # a standby instance takes over now, not on our exit
        if self.metrics_server is not None:
            self.metrics_server.stop()
        if self._on_outcome in self.app.outcome_listeners:
            self.app.outcome_listeners.remove(self._on_outcome)
        if self.metrics.ingested in self.app.ingest_listeners:
            self.app.ingest_listeners.remove(self.metrics.ingested)
        log.info("daemon stopped")

    def request_stop(self) -> None:
        self.stop_event.set()
        self._main_wake.set()

    def request_reload(self) -> None:
        self._reload_requested.set()
        self._main_wake.set()

    def reload(self) -> list[str]:
        """SIGHUP (see `reload.reload`): returns the sections applied."""
        return reload(self.app, self.config_path, self.jobs)

    def run_forever(self) -> int:
        """start(), then serve until SIGTERM/SIGINT (or a worker dies), then stop()."""
        previous = self._install_signals()
        try:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise
            self._main_loop()
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}  # in-process use (tests): the caller drives stop()/reload()
        previous: dict[int, Any] = {}
        for sig, handler in (
            (signal.SIGTERM, lambda *_: self.request_stop()),
            (signal.SIGINT, lambda *_: self.request_stop()),
            (signal.SIGHUP, lambda *_: self.request_reload()),
        ):
            previous[sig] = signal.signal(sig, handler)
        return previous

    def _main_loop(self) -> None:
        watchdog = watchdog_interval()
        tick = min(1.0, watchdog) if watchdog else 1.0
        next_ping = 0.0
        last_status = ""
        while not self.stop_event.is_set():
            self._main_wake.wait(tick)
            self._main_wake.clear()
            if self.stop_event.is_set():
                break
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self.reload()
            dead = [t.name for t in self._threads if not t.is_alive()]
            if dead:
                log.error("daemon: worker thread(s) %s died; exiting for a restart", dead)
                self.exit_code = 1
                break
            status = self.status()
            if status != last_status:
                notify(f"STATUS={status}")
                last_status = status
            if watchdog and time.monotonic() >= next_ping:
                notify("WATCHDOG=1")  # only while every worker is alive (checked above)
                next_ping = time.monotonic() + watchdog

    def status(self) -> str:
        """One line for systemctl status."""
        return f"{self.inbound.status()}; outbound {self.app.cfg.outbound.mode}"

    # -- the workers' hooks ----------------------------------------------------------------
    def _on_outcome(self, outcome: Outcome) -> None:
        """Every channel's outcomes (the pipeline calls this): count, wake the sender."""
        self.metrics.inbound_outcome(outcome.kind.value)
        self.wake_sender()

    def wake_sender(self) -> None:
        if self.sender is not None:
            self.sender.wake()

    def gauges(self) -> dict[str, float | None]:
        """Read at each scrape; a value unknown right now (database down) is left out
        rather than reported as 0."""
        try:
            pending: float | None = pending_count(self.app)
        except MaildeskError:
            pending = None
        return {"maildesk_outbox_pending": pending, **self.inbound.gauges()}

    def render_metrics(self) -> str:
        return self.metrics.render()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(t)
        t.start()


def _bounded(fn: Callable[[], None], timeout: float, what: str) -> None:
    """Run a stop step in a helper thread; give up waiting after `timeout` (exit anyway)."""
    t = threading.Thread(target=fn, name=f"maildesk-{what}", daemon=True)
    t.start()
    t.join(max(0.0, timeout))
    if t.is_alive():
        log.warning("daemon: %s did not finish in time", what)


def exit_when_stuck(rc: int) -> None:
    """A timer sweep still running in APScheduler's (non-daemon) pool would hold up the
    interpreter's exit past systemd's stop timeout: wait a little, then leave regardless
    (its transaction rolls back; timers are idempotent and run again at the next start)."""
    deadline = time.monotonic() + 1.5
    main = threading.main_thread()
    while time.monotonic() < deadline:
        busy = [t for t in threading.enumerate() if t is not main and not t.daemon]
        if not busy:
            return
        time.sleep(0.05)
    log.warning("daemon: exiting with %s still running", [t.name for t in busy])
    logging.shutdown()
    os._exit(rc)
