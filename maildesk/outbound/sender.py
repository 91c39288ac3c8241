"""T5: deliver what the outbox holds, to SMTP or a maildir, at least once, never twice at once.

Rows are claimed in batches and delivered over one session (SMTP, pipelined when the server
offers PIPELINING; a maildir syncs a batch's files together), but each mail is recorded in
its own transaction as soon as it is through, so a sender killed at any moment sends again
at most the one mail it had in flight. Which sender holds a row, and how a dead sender's rows are
freed at once (PostgreSQL row locks; on SQLite the claiming process written on the row), is
`claims.py`.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.errors import TemporaryFailure
from maildesk.mail.verp import return_path
from maildesk.outbound.claims import Claimed, Claimer
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
T = TypeVar("T")
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


def _recipient(to_addr: str) -> str:
    return getaddresses([to_addr])[0][1] or to_addr


def _finish_all(
    app: App, results: Sequence[tuple[int, str | None, bool]], now: datetime
) -> list[str]:
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


#: Rows claimed at a time: delivered over one session and recorded one by one as each
#: goes (a maildir syncs them together; see `MaildirTransport.send_many`).
BATCH = 100
FINISH_PATIENCE = 150.0  # seconds to keep trying to record sends (well inside the lease)


def _patiently(record: Callable[[], T]) -> T:
    """Record sends even while the database is briefly unavailable (a long SQLite lock):
    giving up here would leave mail that was delivered looking unsent, to go out again."""
    deadline = time.monotonic() + FINISH_PATIENCE
    delay = 1.0
    while True:
        try:
            return record()
        except TemporaryFailure:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("outbox: cannot record a send yet, retrying")
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


@dataclass(frozen=True)
class _Attempt:
    """How one delivery attempt went; `down`: the server could not be reached at all."""

    error: str | None = None
    permanent: bool = False
    down: bool = False


def _attempt(error: Exception | None) -> _Attempt:
    if error is None:
        return _Attempt()
    if isinstance(error, PermanentError):
        return _Attempt(str(error), permanent=True)
    if isinstance(error, TransportUnavailable):
        return _Attempt(str(error), down=True)
    return _Attempt(f"{type(error).__name__}: {error}")


def _count(report: FlushReport, row: Claimed, attempt: _Attempt, result: str) -> None:
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
    limit: int = BATCH,
    transport: Transport | None = None,
) -> FlushReport:
    """Send every due row once (T5); returns counts. Safe to run from several processes,
    and to kill: each mail is recorded as soon as it is sent (see claims.py)."""
    report = FlushReport()
    own = transport is None
    transport = transport or make_transport(app)
    try:
        with Claimer(app) as claimer:
            while _batch(app, claimer, transport, report, now, limit):
                pass
    finally:
        if own:
            transport.close()
    return report


def _batch(
    app: App,
    claimer: Claimer,
    transport: Transport,
    report: FlushReport,
    now: datetime | None,
    limit: int,
) -> bool:
    """Claim up to `limit` rows, deliver them over the one session, record each in its own
    transaction as soon as it is through. False once nothing is due or the server is down
    (the rows not tried are given back untouched)."""
    rows = claimer.claim(now or datetime.now(UTC), limit)
    if not rows:
        return False
    address = app.cfg.support.address
    mails = [(return_path(app.secret, address, r.id), _recipient(r.to_addr), r.raw) for r in rows]
    done, down = 0, False
    results = transport.send_many(mails)
    try:
        for i, error in results:
            attempt = _attempt(error)
            result = _record(app, claimer, rows[i].id, attempt, now)
            done = i + 1
            _count(report, rows[i], attempt, result)
            if attempt.down:
                log.warning("outbox: transport unavailable, batch stopped: %s", attempt.error)
                down = True
                break
    finally:
        results.close()  # a maildir drops the files it had not moved into new/ yet
    claimer.release([r.id for r in rows[done:]], now or datetime.now(UTC))
    claimer.unlock()
    return not down


def _record(
    app: App, claimer: Claimer, row_id: int, attempt: _Attempt, now: datetime | None
) -> str:
    """One attempt recorded at once: a delivery through the claimer (one UPDATE), anything
    else through `_finish` (backoff, or failure and its alert)."""
    if attempt.error is None:
        at = now or datetime.now(UTC)
        return "sent" if _patiently(lambda: claimer.sent(row_id, at)) else "gone"
    done = [(row_id, attempt.error, attempt.permanent)]
    return _patiently(lambda: _finish_all(app, done, now or datetime.now(UTC)))[0]


def pending_count(app: App) -> int:
    with app.db.transaction() as s:
        q = select(func.count(Outbox.id)).where(Outbox.state.in_(("pending", "sending")))
        return s.scalar(q) or 0
