"""T4 (P8): SLA warning once `escalation.warn_at` of the time is used, escalation at breach.

`sla_warn_at` and `sla_due_at` were stored on the customer's calendar (7x24: wall clock) by
`recompute_sla`, so the sweep only compares instants.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from maildesk.outbound.notices import queue_mail
from maildesk.pipeline.tickets import add_event
from maildesk.store.models import Ticket
from maildesk.timers.sweep import Action, Timer, assignee_or_agents, detail, local, unique

if TYPE_CHECKING:
    from maildesk.app import App


def _warn_where(app: App, now: datetime) -> Sequence[ColumnElement[bool]]:
    return (
        Ticket.state == "open",  # index ix_tickets_sla_warn
        Ticket.sla_warned.is_(False),
        Ticket.sla_warn_at <= now,
    )


def _breach_where(app: App, now: datetime) -> Sequence[ColumnElement[bool]]:
    return (
        Ticket.state == "open",  # index ix_tickets_sla_breach
        Ticket.sla_breached.is_(False),
        Ticket.sla_due_at <= now,
    )


def _notify(s: Session, app: App, t: Ticket, now: datetime, template: str, to: list[str]) -> None:
    assert t.sla_due_at is not None
    context = {
        "due_at": t.sla_due_at.astimezone(app.calendar.tz),
        "used_pct": round(app.cfg.escalation.warn_at * 100),
        "supervisors_note": "",
    }
    for addr in to:
        queue_mail(
            s,
            app,
            template=template,
            to=addr,
            now=now,
            ticket=t,
            kind="note",  # internal: kept on the ticket, never in the customer's transcript
            auto_submitted="auto-generated",
            context=context,
        )


def _warn_act(s: Session, app: App, t: Ticket, now: datetime) -> Action | None:
    assert t.sla_due_at is not None and t.sla_warn_at is not None
    t.sla_warned = True
    to = unique(assignee_or_agents(s, t))
    _notify(s, app, t, now, "sla_warning", to)
    add_event(
        s,
        t,
        now,
        "timer",
        "system",
        **detail(
            timer="T4", action="sla_warning", warn_at=t.sla_warn_at, due_at=t.sla_due_at, to=to
        ),
    )
    pct = round(app.cfg.escalation.warn_at * 100)
    return Action(
        "T4",
        "warn",
        t.number,
        f"{pct} % of SLA used, due {local(app, t.sla_due_at)}, to {', '.join(to)}",
    )


def _breach_act(s: Session, app: App, t: Ticket, now: datetime) -> Action | None:
    """Escalate. A warning not sent yet (downtime spanning both) is superseded: recorded in
    the event and flagged, so the people concerned get one mail, the one that matters."""
    assert t.sla_due_at is not None
    superseded = not t.sla_warned
    t.sla_warned = True
    t.sla_breached = True
    to = unique(assignee_or_agents(s, t) + list(app.cfg.escalation.supervisors))
    _notify(s, app, t, now, "sla_breach", to)
    add_event(
        s,
        t,
        now,
        "timer",
        "system",
        **detail(
            timer="T4",
            action="sla_breach",
            due_at=t.sla_due_at,
            to=to,
            warning_superseded=superseded,
        ),
    )
    return Action(
        "T4", "escalate", t.number, f"SLA due {local(app, t.sla_due_at)} passed, to {', '.join(to)}"
    )


# Breach runs first so a ticket overdue for both gets the escalation only.
T4_BREACH = Timer("T4", _breach_where, _breach_act)
T4_WARN = Timer("T4", _warn_where, _warn_act)
