"""`maildesk run`: the daemon. Wires the inbound channel, the outbox sender and the timers.

Threads, each with one job and all stopped by one event:
  inbound   IMAP consumer (IDLE), or the SMTP/LMTP listener (aiosmtpd), or nothing
  sender    flushes the outbox whenever a row is due (woken at once by local accepts,
            else a cheap indexed poll: other processes such as `ingest` cannot signal us)
  timers    APScheduler 3: T1-T4 (+ a T5 flush) every `timers.interval_seconds`, first at start
  main      signals (TERM/INT stop, HUP reload), systemd notify and watchdog, health

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from maildesk import logs
from maildesk.allocator import return_large_buffers
from maildesk.backoff import Backoff
from maildesk.channels.imap import ImapConsumer, ImapSettings
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.config import load_config, read_secret
from maildesk.errors import ConfigError, MaildeskError, TemporaryFailure
from maildesk.locks import MailboxLock, exclusive, mailbox_lock
from maildesk.metrics import Metrics, MetricsServer
from maildesk.notify import notify, watchdog_interval
from maildesk.outbound.sender import flush, pending_count
from maildesk.outbound.transports import SmtpTransport, TransportUnavailable
from maildesk.pipeline.accept import accept, accept_batch
from maildesk.pipeline.outcome import Outcome
from maildesk.pipeline.quarantine import quarantine
from maildesk.report import digest
from maildesk.store.models import Outbox
from maildesk.timers import run_timers, summary

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from maildesk.app import App

log = logging.getLogger("maildesk.daemon")

STOP_TIMEOUT = 8.0  # SPEC §8: exit within 10 s of SIGTERM; keep margin for interpreter exit

#: Config sections SIGHUP applies in place; the rest need a restart (we say so in the log).
RELOADABLE = (
    "logging",
    "report",
    "agents",
    "committee",
    "escalation",
    "limits",
    "templates",
    "sla",
    "timers",
    "calendar",
)
RESTART_ONLY = ("database", "inbound", "outbound", "metrics", "security")


class Daemon:
    """One daemon process: start(), stop(), or run_forever() to do both around signals."""

    def __init__(self, app: App, config_path: str | None = None) -> None:
        self.app = app
        self.config_path = config_path
        self.stop_event = threading.Event()
        self.metrics = Metrics(self.gauges)
        self.consumer: ImapConsumer | None = None
        self.lock: MailboxLock | None = None
        self.listener: Any = None
        self.scheduler: BackgroundScheduler | None = None
        self.metrics_server: MetricsServer | None = None
        self.exit_code = 0
        self._threads: list[threading.Thread] = []
        self._sender_wake = threading.Event()
        self._main_wake = threading.Event()
        self._reload_requested = threading.Event()
        self._stopped = False
        # Tunables (tests shrink them).
        self.outbox_poll_seconds = 0.5
        self.outbox_backoff_initial = 1.0
        self.outbox_backoff_max = 30.0
        self.lock_retry_seconds = 2.0
        self.imap_overrides: dict[str, Any] = {}

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
        self._spawn("maildesk-sender", self._sender_loop)
        self._start_scheduler()
        self._start_inbound()
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
        self._sender_wake.set()
        self._main_wake.set()
        if self.listener is not None:
            # Refuses new connections, then waits for a DATA already in the pipeline.
            _bounded(self.listener.stop, deadline - time.monotonic(), "smtp listener stop")
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)  # a running sweep is one transaction per batch
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("daemon: %s still busy at shutdown", t.name)
        consumer_done = not any(t.is_alive() for t in self._threads if t.name == "maildesk-imap")
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
        mode = self.app.cfg.inbound.mode
        if self.consumer is not None:
            state = (
                "standby" if self.lock is not None and self.lock.standby else self.consumer.state
            )
            inbound = f"imap {state}"
        elif self.listener is not None:
            inbound = f"{mode} listening on {self.listener.host}:{self.listener.port}"
        else:
            inbound = "no inbound channel"
        return f"{inbound}; outbound {self.app.cfg.outbound.mode}"

    # -- inbound -------------------------------------------------------------------------
    def _start_inbound(self) -> None:
        mode = self.app.cfg.inbound.mode
        if mode == "imap":
            settings = self.imap_settings()
            name = f"imap:{settings.host}:{settings.port}:{settings.username}:{settings.folder}"
            self.lock = mailbox_lock(self.app, name, self.stop_event, self.lock_retry_seconds)
            self.consumer = ImapConsumer(
                settings,
                accept=self._accept,
                accept_batch=self._accept_batch,
                on_quarantine=self._quarantine,
                log=logging.getLogger("maildesk.imap"),
                lock=self.lock,
            )
            self._spawn("maildesk-imap", self._consume)
        elif mode in ("smtp", "lmtp"):
            self.listener = ListenerThread(self.app, mode)
            self.listener.start()

    def imap_settings(self) -> ImapSettings:
        """`[inbound.imap]` as the consumer's settings; the password comes from its file."""
        cfg = self.app.cfg
        c = cfg.inbound.imap
        password = (
            read_secret(cfg, c.password_file, "inbound.imap.password_file")
            if c.password_file
            else ""
        )
        settings = ImapSettings(
            host=c.host,
            port=c.port,
            ssl=c.ssl,
            starttls=c.starttls,
            username=c.username,
            password=password,
            folder=c.folder,
            processed_folder=c.processed_folder,
            rejected_folder=c.rejected_folder,
            quarantine_folder=c.quarantine_folder,
            idle=c.idle,
            poll_seconds=c.poll_seconds,
            batch_size=c.batch_size,
        )
        return dataclasses.replace(settings, **self.imap_overrides)

    def _consume(self) -> None:
        assert self.consumer is not None
        self.consumer.run(self.stop_event)

    def _on_outcome(self, outcome: Outcome) -> None:
        """Every channel's outcomes (the pipeline calls this): count, wake the sender."""
        self.metrics.inbound_outcome(outcome.kind.value)
        self.wake_sender()

    def _accept(self, raw: bytes, source: str) -> Outcome:
        """The consumer's accept: the pipeline, plus counts of its failures."""
        try:
            return accept(self.app, raw, source)
        except TemporaryFailure:
            self.metrics.inbound_outcome("temporary_failure")
            raise
        except Exception:
            self.metrics.inbound_outcome("error")
            raise

    def _accept_batch(self, items: list[tuple[bytes, str]]) -> list[Outcome | Exception]:
        """The consumer's batch accept (group commit), with the same failure counts."""
        try:
            results = accept_batch(self.app, items)
        except TemporaryFailure:
            self.metrics.inbound_outcome("temporary_failure")
            raise
        for result in results:
            if isinstance(result, Exception):
                self.metrics.inbound_outcome("error")
        return results

    def _quarantine(self, raw: bytes, source: str, error: str) -> None:
        qid = quarantine(self.app, raw, source, error)
        self.metrics.inbound_outcome("quarantined")
        first = error.strip().splitlines()[-1] if error.strip() else ""
        log.error("inbound source=%s outcome=quarantined id=%s error=%s", source, qid, first)

    # -- outbox sender -------------------------------------------------------------------
    def wake_sender(self) -> None:
        self._sender_wake.set()

    def _sender_loop(self) -> None:
        """Flush whenever a row is due. A failed connection to the SMTP server is the
        server's problem, not the messages': back off here without touching the rows."""
        retry = Backoff(self.outbox_backoff_initial, self.outbox_backoff_max)
        down_since: float | None = None
        while not self.stop_event.is_set():
            wait = self.outbox_poll_seconds
            try:
                if self._outbox_due():
                    self._flush_once()
                if down_since is not None:
                    log.info(
                        "outbox: smtp reachable again after %.0f s", time.monotonic() - down_since
                    )
                    down_since = None
                retry.reset()
            except (TransportUnavailable, TemporaryFailure) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("outbox: %s; retrying with backoff", exc)
                else:
                    log.debug("outbox: still unavailable: %s", exc)
                wait = retry.next_delay()
            except Exception:
                log.exception("outbox: unexpected error")
                wait = retry.next_delay()
            self._sender_wake.wait(wait)
            self._sender_wake.clear()

    def _outbox_due(self) -> bool:
        """One indexed probe (ix_outbox_due) so an idle daemon costs next to nothing."""
        now = datetime.now(UTC)
        with self.app.db.transaction() as s:
            q = (
                select(Outbox.id)
                .where(Outbox.state.in_(("pending", "sending")), Outbox.due_at <= now)
                .limit(1)
            )
            return s.scalar(q) is not None

    def _flush_once(self) -> None:
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

    # -- timers --------------------------------------------------------------------------
    def _start_scheduler(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # no line per run
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self.scheduler.add_job(
            self._run_timers,
            "interval",
            seconds=self.app.cfg.timers.interval_seconds,
            id="timers",
            next_run_time=datetime.now(UTC),  # catch up at once after downtime
        )
        self._schedule_digest()
        self.scheduler.start()

    def _schedule_digest(self) -> None:
        """The supervisors' digest on `[report] digest` (cron, support timezone), if set."""
        assert self.scheduler is not None
        if self.scheduler.get_job("digest") is not None:
            self.scheduler.remove_job("digest")
        cron = digest.trigger(self.app)
        if cron is not None:
            self.scheduler.add_job(self._send_digest, cron, id="digest")

    def _send_digest(self) -> None:
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

    # -- SIGHUP --------------------------------------------------------------------------
    def reload(self) -> list[str]:
        """Templates always; from the re-read config file, what can change without a
        restart (agents, limits, escalation, templates, SLA, timers, calendar). Returns the
        sections applied; a broken file changes nothing."""
        self.app.templates.reload()
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload: config not applied, keeping the running one: %s", exc)
            return ["templates (files)"]
        cfg = self.app.cfg
        changed = [n for n in RELOADABLE if getattr(cfg, n) != getattr(new, n)]
        language_changed = cfg.support.language != new.support.language
        for name in changed:
            setattr(cfg, name, getattr(new, name))
        if language_changed:
            cfg.support.language = new.support.language
            changed.append("support.language")
        try:
            if "agents" in changed:
                self.app.sync_agents()
            if "templates" in changed or language_changed:
                vars(self.app).pop("templates", None)  # cached_property: rebuilt on next use
                _ = self.app.templates
            if "calendar" in changed:
                self.app.set_calendars()
            if "logging" in changed:
                logs.apply(cfg.logging.format, cfg.logging.level)
        except (MaildeskError, ValueError) as exc:
            log.error("reload: could not apply %s: %s", ", ".join(changed), exc)
        if "report" in changed and self.scheduler is not None:
            self._schedule_digest()
        if "timers" in changed and self.scheduler is not None:
            self.scheduler.reschedule_job(
                "timers", trigger="interval", seconds=cfg.timers.interval_seconds
            )
        stale = [n for n in RESTART_ONLY if getattr(cfg, n) != getattr(new, n)]
        other = [
            f"support.{f.name}"
            for f in dataclasses.fields(cfg.support)
            if f.name != "language" and getattr(cfg.support, f.name) != getattr(new.support, f.name)
        ]
        if stale or other:
            log.warning("reload: %s changed; restart to apply", ", ".join(stale + other))
        applied = ["templates (files)", *changed]
        log.info("reload: applied %s (agents: %d)", ", ".join(applied), len(cfg.agents))
        return applied

    # -- metrics -------------------------------------------------------------------------
    def gauges(self) -> dict[str, float | None]:
        """Read at each scrape; a value unknown right now (database down) is left out
        rather than reported as 0."""
        try:
            pending: float | None = pending_count(self.app)
        except MaildeskError:
            pending = None
        gauges: dict[str, float | None] = {"maildesk_outbox_pending": pending}
        if self.consumer is not None:
            gauges["maildesk_imap_connected"] = (
                1 if self.consumer.state in ("connected", "idle") else 0
            )
            gauges["maildesk_imap_standby"] = (
                1 if self.lock is not None and self.lock.standby else 0
            )
        return gauges

    def render_metrics(self) -> str:
        return self.metrics.render()

    # -- helpers -------------------------------------------------------------------------
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
