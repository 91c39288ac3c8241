"""T1 (P10: resolved → closed after N business days) and T2 (P12: abandoned → resolved).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, or_

from maildesk.domain.lifecycle import State
from maildesk.store.models import Ticket
from maildesk.timers.batch import Batch
from maildesk.timers.sweep import Action, Timer, detail, local

if TYPE_CHECKING:
    from maildesk.app import App


# -- T1 -------------------------------------------------------------------------------------
#
# SPEC §5 counts the 15 days on "the business calendar, whatever the customer's policy"
# (the policy's "días hábiles"); issue 3 says "the customer's calendar". The SPEC wins: a 7x24
# customer buys round-the-clock SLA hours, not a shorter window to comment on a resolution.


def _close_where(app: App, now: datetime) -> Sequence[ColumnElement[bool]]:
    n = app.cfg.timers.resolved_to_closed_business_days
    return (Ticket.state == State.RESOLVED, Ticket.resolved_at < app.calendar.window_start(now, n))


def transcript(b: Batch, t: Any) -> str:
    """The `closed` notice's attachment (a seam for tests to break one ticket)."""
    return b.transcript(t)


def _close(b: Batch, t: Any) -> Action | None:
    app, now = b.app, b.now
    n = app.cfg.timers.resolved_to_closed_business_days
    assert t.resolved_at is not None  # the WHERE clause guarantees it
    due = app.calendar.add_business_days(t.resolved_at, n)
    if due > now:
        return None
    text = transcript(b, t)
    b.transition(t, State.CLOSED, f"no reply within {n} business days")
    b.event(t, "timer", **detail(timer="T1", action="close", resolved_at=t.resolved_at, due_at=due))
    b.send(
        t,
        "closed",
        t.requester_email,
        recipient_name=t.requester_name,
        attachments=[(f"transcript-{t.number}.txt", "text/plain", text.encode("utf-8"))],
    )
    return Action(
        "T1",
        "close",
        t.number,
        f"resolved {local(app, t.resolved_at)}, {n} business days passed",
    )


CLOSE_AFTER_WINDOW = Timer("T1", _close_where, _close, transcripts=True, to_requester=True)


# -- T2 -------------------------------------------------------------------------------------


def _abandon_where(app: App, now: datetime) -> Sequence[ColumnElement[bool]]:
    """Open, support spoke last (a public agent answer; notices never set this column), and
    that answer is `abandoned_after_days` calendar days old."""
    cutoff = now - timedelta(days=app.cfg.timers.abandoned_after_days)
    return (
        Ticket.state == State.OPEN,
        Ticket.last_agent_public_at <= cutoff,
        or_(
            Ticket.last_customer_at.is_(None),
            Ticket.last_customer_at < Ticket.last_agent_public_at,
        ),
    )


def _abandon(b: Batch, t: Any) -> Action | None:
    app = b.app
    days = app.cfg.timers.abandoned_after_days
    answered = t.last_agent_public_at
    assert answered is not None
    b.transition(t, State.RESOLVED, "abandoned")
    b.event(t, "timer", **detail(timer="T2", action="abandon", agent_answer_at=answered))
    b.send(
        t,
        "abandoned",
        t.requester_email,
        recipient_name=t.requester_name,
        context={
            "days": days,
            "window_days": app.cfg.timers.resolved_to_closed_business_days,
        },
    )
    return Action(
        "T2",
        "abandon",
        t.number,
        f"agent answered {local(app, answered)}, {days} days without customer reply",
    )


ABANDON = Timer("T2", _abandon_where, _abandon, ("last_agent_public_at",), to_requester=True)
