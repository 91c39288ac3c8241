"""T3 (P13): remind the committee and the assignee of a feature request's pending decision;
when the deadline passes with no decision, the supervisors are told too (SPEC §10).

Rule ids: docs/rules.md."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement

from maildesk.domain.lifecycle import State
from maildesk.domain.sla import TicketType
from maildesk.pipeline.tell import committee_addresses, feature_deadline
from maildesk.store.models import Ticket
from maildesk.timers.batch import Batch
from maildesk.timers.sweep import Action, Timer, detail, unique

if TYPE_CHECKING:
    from maildesk.app import App


def _days(app: App) -> list[int]:
    """Reminder days, and always the deadline itself: the supervisors' escalation is due
    then whatever reminder days are configured."""
    t = app.cfg.timers
    return sorted(set(t.feature_reminder_days) | {t.feature_decision_days})


def _where(app: App, now: datetime) -> Sequence[ColumnElement[bool]]:
    days = _days(app) or [0]
    return (
        Ticket.state == State.OPEN,
        Ticket.type == TicketType.FEATURE_REQUEST,
        Ticket.type_set_at <= now - timedelta(days=days[0]),
        Ticket.viable.is_(None),
        Ticket.feature_reminders_sent < len(_days(app)),
    )


def _decide(b: Batch, t: Any) -> Action | None:
    """Send the latest reminder that is due. After downtime that skipped a reminder day, the
    one mail says the current day; the skipped reminder is recorded in the event, not sent."""
    app, now = b.app, b.now
    days = _days(app)
    due = sum(1 for d in days if t.type_set_at + timedelta(days=d) <= now)
    if due <= t.feature_reminders_sent:
        return None
    day = days[due - 1]
    skipped = days[t.feature_reminders_sent : due - 1]
    b.update(t, feature_reminders_sent=due)
    deadline = feature_deadline(app, t.type_set_at)
    overdue = now >= deadline  # the promise to the customer is broken: supervisors hear of it
    assignee = [t.assignee_email] if t.assignee_id is not None and t.assignee_active else []
    supervisors = list(app.cfg.escalation.supervisors) if overdue else []
    committee = b.memo("committee", lambda: committee_addresses(b.session, app))
    recipients = unique(committee + assignee + supervisors)
    context = {"day": day, "deadline": deadline.astimezone(app.calendar.tz), "overdue": overdue}
    for to in recipients:
        # kind "note": internal, kept on the ticket, never in the customer's transcript
        b.send(t, "feature_reminder", to, kind="note", context=context)
    b.event(
        t,
        "timer",
        **detail(
            timer="T3",
            action="escalate_feature" if overdue else "remind",
            day=day,
            skipped=skipped,
            to=recipients,
        ),
    )
    to_text = ", ".join(recipients) or "nobody: no committee address, committee agent or assignee"
    verb = "overdue" if overdue else "remind"  # not T4's "escalate": no SLA breach
    what = "deadline passed, no decision" if overdue else "feature decision pending"
    return Action("T3", verb, t.number, f"{what}, day {day}, to {to_text}")


FEATURE_REMINDER = Timer("T3", _where, _decide, ("type_set_at", "feature_reminders_sent"))
