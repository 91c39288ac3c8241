"""T5: deliver what the outbox holds, to SMTP or a maildir, at least once, never twice at once.

Rows are claimed with a lease (state `sending`, `due_at` pushed forward) so several senders
never take the same row (PostgreSQL: FOR UPDATE SKIP LOCKED); a sender that dies mid-way
leaves rows whose lease expires and another sender retries them.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import os
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.config import read_secret
from maildesk.errors import ConfigError, TemporaryFailure
from maildesk.outbound.notices import queue_mail
from maildesk.store.models import Outbox, Ticket

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.outbox")
LEASE = timedelta(minutes=5)
BACKOFF_BASE = 30.0  # seconds; doubles per attempt
BACKOFF_CAP = 3600.0


class PermanentError(Exception):
    """The peer refused for good (5xx): retrying cannot help."""


class TransportUnavailable(ConnectionError):
    """No session at all (connect, TLS or login failed): stop this batch, retry later.

    An OSError, so callers that catch network errors around `connect()` keep working."""


class Transport(Protocol):
    def send(self, sender: str, rcpt: str, raw: bytes) -> None: ...
    def close(self) -> None: ...


class MaildirTransport:
    """Embedded default: each mail becomes a file in ./outbox/new (tmp then rename).

    `mailbox.Maildir` makes the folders (0700) but creates files by the umask (0644 under
    the usual 022), so the file is written here, 0600: it holds a customer's mail."""

    def __init__(self, path: str) -> None:
        self.box = mailbox.Maildir(path, create=True)
        self.path = Path(path)
        self.count = 0

    def send(self, sender: str, rcpt: str, raw: bytes) -> None:
        self.count += 1
        name = f"{time.time():.6f}.P{os.getpid()}T{threading.get_ident()}Q{self.count}."
        name += socket.gethostname().replace("/", "_").replace(":", "_")
        tmp = self.path / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, self.path / "new" / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def close(self) -> None:
        self.box.close()


class SmtpTransport:
    """One SMTP session per flush: implicit TLS or STARTTLS, AUTH with a password file.

    `ssl_context` replaces the system trust store (tests with a private CA); config keys stay
    the contract, so operators trust a private CA through the system store.
    """

    def __init__(self, app: App, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        o = self.app.cfg.outbound
        ctx = self.ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP | None = None
        try:
            if o.ssl:
                conn = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout, context=ctx)
            else:
                conn = smtplib.SMTP(o.host, o.port, timeout=o.timeout)
                if o.starttls:
                    conn.starttls(context=ctx)
            if o.username:
                password = read_secret(self.app.cfg, o.password_file, "outbound.password_file")
                conn.login(o.username, password)
            return conn
        except (smtplib.SMTPException, OSError, ConfigError) as exc:
            if conn is not None:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    conn.close()
            raise TransportUnavailable(
                f"smtp {o.host}:{o.port}: {type(exc).__name__}: {exc}"
            ) from exc

    def connect(self) -> None:
        """Open the session now (before claiming rows: a dead server costs no attempts)."""
        if self.conn is None:
            self.conn = self._connect()

    def send(self, sender: str, rcpt: str, raw: bytes) -> None:
        self.connect()
        assert self.conn is not None
        try:
            self.conn.sendmail(sender, [rcpt], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            if 500 <= code < 600:
                raise PermanentError(f"{code} {exc.recipients}") from exc
            raise
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise
        except (smtplib.SMTPException, OSError):
            # Disconnect, timeout mid-DATA, protocol error: the session state is unknown,
            # so the next message starts a new one.
            self._drop()
            raise

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.conn.quit()
            self._drop()


def make_transport(app: App) -> Transport:
    if app.cfg.outbound.mode == "maildir":
        return MaildirTransport(str(app.outbox_dir))
    return SmtpTransport(app)


@dataclass
class FlushReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    #: Seconds from each delivered mail's queueing to its delivery (the metrics' histogram).
    latencies: list[float] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Capped exponential backoff after the given number of failed attempts."""
    return timedelta(seconds=min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP))


def claim(app: App, now: datetime, limit: int) -> list[Outbox]:
    """Take up to `limit` due rows for this sender (a lease, committed at once)."""
    with app.db.transaction() as s:
        q = (
            select(Outbox)
            .where(Outbox.state.in_(("pending", "sending")), Outbox.due_at <= now)
            .order_by(Outbox.due_at, Outbox.id)
            .limit(limit)
        )
        if app.db.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = list(s.scalars(q))
        for row in rows:
            row.state = "sending"
            row.due_at = now + LEASE
        return rows


def _recipient(row: Outbox) -> str:
    return getaddresses([row.to_addr])[0][1] or row.to_addr


def _finish_all(app: App, results: list[tuple[int, str | None, bool]], now: datetime) -> list[str]:
    """Record a batch of attempts in ONE transaction (a write per mail starved the sender
    of SQLite's write lock while mail kept arriving)."""
    with app.db.transaction() as s:
        return [
            _finish(s, app, row_id, now, error, permanent) for row_id, error, permanent in results
        ]


def _finish(
    s: Session, app: App, row_id: int, now: datetime, error: str | None, permanent: bool
) -> str:
    """Record the result of one attempt: sent, retry later, or give up (and alert)."""
    row = s.get(Outbox, row_id)
    if row is None:
        return "gone"
    row.attempts += 1
    if error is None:
        row.state, row.sent_at, row.last_error = "sent", now, None
        return "sent"
    row.last_error = error[:2000]
    if permanent or row.attempts >= app.cfg.outbound.max_attempts:
        row.state = "failed"
        if row.template != "delivery_failed":  # a failure about a failure: log only
            alert_failure(s, app, row, now)
        log.error(
            "outbox gave up id=%s to=%s attempts=%s error=%s",
            row.id,
            row.to_addr,
            row.attempts,
            error,
        )
        return "failed"
    row.state = "pending"
    row.due_at = now + backoff(row.attempts)
    return "retry"


def _subject(raw: bytes) -> str:
    for line in raw.split(b"\n", 40):
        if line.lower().startswith(b"subject:"):
            return line[8:].decode("utf-8", "replace").strip()
    return ""


def failure_recipients(s: Session, app: App, row: Outbox) -> list[str]:
    """Who hears that a mail failed for good (issue 8 item 6): the agent who wrote it (a
    relayed answer, or the command behind a notice) and the ticket's assignee, who can fix
    the address or call the customer, then the supervisors; never the failed address."""
    people = [row.author or ""]
    ticket = s.get(Ticket, row.ticket_number) if row.ticket_number else None
    if ticket is not None and ticket.assignee is not None and ticket.assignee.active:
        people.append(ticket.assignee.email)
    people += app.cfg.escalation.supervisors
    failed = row.to_addr.strip().lower()
    seen: set[str] = {failed}
    out = []
    for address in people:
        key = address.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(key)
    return out


def alert_failure(s: Session, app: App, row: Outbox, now: datetime) -> None:
    """Queue the `delivery_failed` mail about `row` to everyone who should fix it."""
    ticket = s.get(Ticket, row.ticket_number) if row.ticket_number else None
    for to in failure_recipients(s, app, row):
        queue_mail(
            s,
            app,
            template="delivery_failed",
            to=to,
            now=now,
            ticket=ticket,
            auto_submitted="auto-generated",
            record=False,  # internal: never part of the customer's transcript
            context={
                "recipient": row.to_addr,
                "original_subject": _subject(row.raw),
                "attempts": row.attempts,
                "last_error": row.last_error,
                "outbox_id": row.id,
                "relayed_answer": row.template == "agent_reply",
            },
        )


def release(app: App, row_ids: list[int], now: datetime) -> None:
    """Give back claimed rows that were not tried (the server is down): due again at once,
    no attempt counted, so one outage costs one connection attempt per flush, not one per row."""
    if not row_ids:
        return
    with app.db.transaction() as s:
        for row_id in row_ids:
            row = s.get(Outbox, row_id)
            if row is not None and row.state == "sending":
                row.state, row.due_at = "pending", now


FINISH_EVERY = 10  # sends recorded per transaction: the most a kill -9 can make us resend
FINISH_PATIENCE = 150.0  # seconds to keep trying to record sends (well inside the lease)


def _finish_patiently(
    app: App, results: list[tuple[int, str | None, bool]], now: datetime | None
) -> list[str]:
    """Record sends even while the database is briefly unavailable (a long SQLite lock):
    giving up here would leave mail that was delivered looking unsent, to go out again."""
    deadline = time.monotonic() + FINISH_PATIENCE
    delay = 1.0
    while True:
        try:
            return _finish_all(app, results, now or datetime.now(UTC))
        except TemporaryFailure:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("outbox: cannot record %d sends yet, retrying", len(results))
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


def flush(
    app: App,
    now: datetime | None = None,
    limit: int = FINISH_EVERY,
    transport: Transport | None = None,
) -> FlushReport:
    """Send every due row once (T5); returns counts. Safe to run from several processes.

    Rows are claimed, sent and recorded `limit` at a time: one write transaction per batch
    (a write per mail starved the sender of SQLite's write lock while mail kept arriving),
    and a sender killed between delivery and record resends at most that batch."""
    report = FlushReport()
    own = transport is None
    transport = transport or make_transport(app)
    try:
        while True:
            t = now or datetime.now(UTC)
            rows = claim(app, t, limit)
            if not rows:
                break
            results: list[tuple[int, str | None, bool]] = []
            down_error = None
            for row in rows:
                error, permanent = None, False
                try:
                    transport.send(app.cfg.support.address, _recipient(row), row.raw)
                except PermanentError as exc:
                    error, permanent = str(exc), True
                except TransportUnavailable as exc:
                    down_error = str(exc)
                    results.append((row.id, down_error, False))
                    report.errors.append(f"{row.to_addr}: {down_error}")
                    break
                except (smtplib.SMTPException, OSError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                results.append((row.id, error, permanent))
                if error:
                    report.errors.append(f"{row.to_addr}: {error}")
            sent_at = now or datetime.now(UTC)
            for row, result in zip(rows, _finish_patiently(app, results, now), strict=False):
                if result == "sent":
                    report.sent += 1
                    report.latencies.append((sent_at - row.created_at).total_seconds())
                elif result == "retry":
                    report.retried += 1
                elif result == "failed":
                    report.failed += 1
            if down_error is not None:
                log.warning("outbox: transport unavailable, batch stopped: %s", down_error)
                release(app, [r.id for r in rows[len(results) :]], now or datetime.now(UTC))
                return report
    finally:
        if own:
            transport.close()
    return report


def pending_count(app: App) -> int:
    with app.db.transaction() as s:
        q = select(func.count(Outbox.id)).where(Outbox.state.in_(("pending", "sending")))
        return s.scalar(q) or 0
