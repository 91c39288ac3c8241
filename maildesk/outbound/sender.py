"""T5: deliver what the outbox holds, to SMTP or a maildir, at least once, never twice at once.

Each mail is recorded as soon as it is sent, so a sender killed at any moment sends again at
most the one mail it had in flight. Which sender holds a row, and how a dead sender's rows are
freed at once (PostgreSQL row locks; on SQLite the claiming process written on the row), is
`claims.py`.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.errors import TemporaryFailure
from maildesk.mail.verp import return_path
from maildesk.outbound.claims import claim, due_rows, release
from maildesk.outbound.notices import queue_mail
from maildesk.outbound.transports import (
    PermanentError,
    Transport,
    TransportUnavailable,
    make_transport,
)
from maildesk.store.models import Outbox, Ticket

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.outbox")
BACKOFF_BASE = 30.0  # seconds; doubles per attempt
BACKOFF_CAP = 3600.0


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
    row.claimed_by = None
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


FINISH_EVERY = 10  # rows claimed per transaction on SQLite (each recorded once sent)
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


@dataclass(frozen=True)
class _Attempt:
    """How one delivery attempt went; `down`: the server could not be reached at all."""

    error: str | None = None
    permanent: bool = False
    down: bool = False


def _attempt(app: App, transport: Transport, row: Outbox) -> _Attempt:
    try:
        sender = return_path(app.secret, app.cfg.support.address, row.id)
        transport.send(sender, _recipient(row), row.raw)
    except PermanentError as exc:
        return _Attempt(str(exc), permanent=True)
    except TransportUnavailable as exc:
        return _Attempt(str(exc), down=True)
    except (smtplib.SMTPException, OSError) as exc:
        return _Attempt(f"{type(exc).__name__}: {exc}")
    return _Attempt()


def _count(report: FlushReport, row: Outbox, attempt: _Attempt, result: str) -> None:
    if attempt.error:
        report.errors.append(f"{row.to_addr}: {attempt.error}")
    if result == "sent":
        report.sent += 1
        report.latencies.append((datetime.now(UTC) - row.created_at).total_seconds())
    elif result == "retry":
        report.retried += 1
    elif result == "failed":
        report.failed += 1


def flush(
    app: App,
    now: datetime | None = None,
    limit: int = FINISH_EVERY,
    transport: Transport | None = None,
) -> FlushReport:
    """Send every due row once (T5); returns counts. Safe to run from several processes,
    and to kill: each mail is recorded as soon as it is sent (see claims.py)."""
    report = FlushReport()
    own = transport is None
    transport = transport or make_transport(app)
    try:
        if app.db.dialect == "postgresql":
            _flush_locked(app, transport, report, now)
        else:
            _flush_claimed(app, transport, report, now, limit)
    finally:
        if own:
            transport.close()
    return report


def _flush_locked(
    app: App, transport: Transport, report: FlushReport, now: datetime | None
) -> None:
    """PostgreSQL: one row at a time, sent and recorded under its row lock in one
    transaction; a sender that dies holds nothing once its session ends."""
    while True:
        with app.db.transaction() as s:
            q = due_rows(now or datetime.now(UTC), 1).with_for_update(skip_locked=True)
            row = s.scalars(q).first()
            if row is None:
                return
            attempt = _attempt(app, transport, row)
            at = now or datetime.now(UTC)
            result = _finish(s, app, row.id, at, attempt.error, attempt.permanent)
        _count(report, row, attempt, result)
        if attempt.down:
            log.warning("outbox: transport unavailable, flush stopped: %s", attempt.error)
            return


def _flush_claimed(
    app: App, transport: Transport, report: FlushReport, now: datetime | None, limit: int
) -> None:
    """SQLite: rows claimed `limit` at a time by this process, each recorded once sent."""
    while True:
        rows = claim(app, now or datetime.now(UTC), limit)
        if not rows:
            return
        for i, row in enumerate(rows):
            attempt = _attempt(app, transport, row)
            done = [(row.id, attempt.error, attempt.permanent)]
            (result,) = _finish_patiently(app, done, now)
            _count(report, row, attempt, result)
            if attempt.down:
                log.warning("outbox: transport unavailable, batch stopped: %s", attempt.error)
                release(app, [r.id for r in rows[i + 1 :]], now or datetime.now(UTC))
                return


def pending_count(app: App) -> int:
    with app.db.transaction() as s:
        q = select(func.count(Outbox.id)).where(Outbox.state.in_(("pending", "sending")))
        return s.scalar(q) or 0
