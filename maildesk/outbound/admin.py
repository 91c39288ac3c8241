"""What an operator does to the outbox by hand (`maildesk outbox list|retry|cancel`):
look at mail not yet delivered, give failed mail another full set of attempts, or take a
mail out of the queue. The sender (`sender.py`) never needs to know: a retried row is
simply pending again, a cancelled one is never claimed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import select

from maildesk.store.models import Outbox, OutboxState

if TYPE_CHECKING:
    from maildesk.app import App

#: What `outbox list` shows by default: mail that has not gone out (yet).
UNDELIVERED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.FAILED)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    created_at: datetime
    due_at: datetime
    ticket_number: int | None
    template: str
    to_addr: str
    state: OutboxState
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class Change(StrEnum):
    """The answer to a retry or a cancel."""

    DONE = "done"
    UNKNOWN = "unknown"  # no such outbox id
    SENT = "sent"  # already delivered: nothing to retry or cancel
    BUSY = "busy"  # a sender holds it right now
    WAITING = "waiting"  # a retry of mail already waiting to be sent
    CANCELLED = "cancelled"  # a cancel of mail already cancelled


def outbox_rows(app: App, states: tuple[OutboxState, ...] | None = UNDELIVERED) -> list[OutboxRow]:
    """Outbox rows in the given states (None: all), oldest first; without the raw mail."""
    cols = [getattr(Outbox, f) for f in OutboxRow.__dataclass_fields__]
    q = select(*cols).order_by(Outbox.id)
    if states is not None:
        q = q.where(Outbox.state.in_([s.value for s in states]))
    with app.db.transaction() as s:
        rows = s.execute(q).mappings()
        return [OutboxRow(**(dict(r) | {"state": OutboxState(r["state"])})) for r in rows]


def _held(row: Outbox, now: datetime) -> bool:
    """A sender holds the row: claimed, and its lease has not run out."""
    return row.state == OutboxState.SENDING.value and row.due_at > now


def retry(app: App, outbox_id: int, now: datetime) -> Change:
    """Failed (or cancelled) mail: pending again now, with a fresh set of attempts."""
    with app.db.transaction() as s:
        row = s.get(Outbox, outbox_id, with_for_update=True)  # not while a sender claims it
        if row is None:
            return Change.UNKNOWN
        if row.state == OutboxState.SENT.value:
            return Change.SENT
        if _held(row, now):
            return Change.BUSY
        if row.state in (OutboxState.PENDING.value, OutboxState.SENDING.value):
            return Change.WAITING
        row.state, row.due_at, row.attempts = OutboxState.PENDING.value, now, 0
        return Change.DONE


def failed_ids(app: App) -> list[int]:
    with app.db.transaction() as s:
        q = select(Outbox.id).where(Outbox.state == OutboxState.FAILED.value)
        return list(s.scalars(q.order_by(Outbox.id)))


def cancel(app: App, outbox_id: int, now: datetime) -> Change:
    """Take a mail out of the queue for good (the row stays, marked cancelled)."""
    with app.db.transaction() as s:
        row = s.get(Outbox, outbox_id, with_for_update=True)
        if row is None:
            return Change.UNKNOWN
        if row.state == OutboxState.SENT.value:
            return Change.SENT
        if _held(row, now):
            return Change.BUSY
        if row.state == OutboxState.CANCELLED.value:
            return Change.CANCELLED
        row.state = OutboxState.CANCELLED.value
        return Change.DONE
