"""T4 (P8): SLA warning once `escalation.warn_at` of the time is used, escalation at breach.

`sla_warn_at` and `sla_due_at` were stored on the customer's calendar (7x24: wall clock) by
`recompute_sla`, so the sweep only compares instants.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement

from maildesk.domain.lifecycle import State
from maildesk.store.models import Ticket
from maildesk.timers.batch import Batch
from maildesk.timers.sweep import Action, Timer, detail, local, unique

if TYPE_CHECKING:
    from maildesk.app import App


def _warn_where(app: App, now: datetime) -> Sequence[ColumnElement[bool]]:
    return (
        Ticket.state == State.OPEN,  # index ix_tickets_sla_warn
        Ticket.sla_warned.is_(False),
        Ticket.sla_warn_at <= now,
    )


def _breach_where(app: App, now: datetime) -> Sequence[ColumnElement[bool]]:
    return (
        Ticket.state == State.OPEN,  # index ix_tickets_sla_breach
        Ticket.sla_breached.is_(False),
        Ticket.sla_due_at <= now,
    )


def _notify(b: Batch, t: Any, template: str, to: list[str]) -> None:
    assert t.sla_due_at is not None
    context = {
        "due_at": t.sla_due_at.astimezone(b.app.calendar.tz),
        "used_pct": round(b.app.cfg.escalation.warn_at * 100),
        "supervisors_note": "",
    }
    for addr in to:
        # kind "note": internal, kept on the ticket, never in the customer's transcript
        b.send(t, template, addr, kind="note", context=context)


def _warn_decide(b: Batch, t: Any) -> Action | None:
    assert t.sla_due_at is not None and t.sla_warn_at is not None
    b.update(t, sla_warned=True)
    to = unique(b.assignee_or_agents(t))
    _notify(b, t, "sla_warning", to)
    b.event(
        t,
        "timer",
        **detail(
            timer="T4", action="sla_warning", warn_at=t.sla_warn_at, due_at=t.sla_due_at, to=to
        ),
    )
    pct = round(b.app.cfg.escalation.warn_at * 100)
    return Action(
        "T4",
        "warn",
        t.number,
        f"{pct} % of SLA used, due {local(b.app, t.sla_due_at)}, to {', '.join(to)}",
    )


def _breach_decide(b: Batch, t: Any) -> Action | None:
    """Escalate. A warning not sent yet (downtime spanning both) is superseded: recorded in
    the event and flagged, so the people concerned get one mail, the one that matters."""
    assert t.sla_due_at is not None
    superseded = not t.sla_warned
    b.update(t, sla_warned=True, sla_breached=True)
    to = unique(b.assignee_or_agents(t) + list(b.app.cfg.escalation.supervisors))
    _notify(b, t, "sla_breach", to)
    b.event(
        t,
        "timer",
        **detail(
            timer="T4",
            action="sla_breach",
            due_at=t.sla_due_at,
            to=to,
            warning_superseded=superseded,
        ),
    )
    return Action(
        "T4",
        "escalate",
        t.number,
        f"SLA due {local(b.app, t.sla_due_at)} passed, to {', '.join(to)}",
    )


# Breach runs first so a ticket overdue for both gets the escalation only.
SLA_BREACH = Timer("T4", _breach_where, _breach_decide, ("sla_warned",))
SLA_WARNING = Timer("T4", _warn_where, _warn_decide, ("sla_warn_at",))
