"""Mail the pipeline's handlers send about a ticket: agents' notifications, the committee's
forward (P13), customers' automatic notices (P15, command notices).

Shared by the customer and the agent handlers and by the commands, so it sits below all of
them; every mail goes through `queue_mail` (loop guards, outbox) in the caller's transaction.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.domain.dates import date_in_words
from maildesk.outbound.notices import queue_mail
from maildesk.pipeline.briefing import files_in_hand, history_context, pack
from maildesk.pipeline.participants import Seen
from maildesk.pipeline.records import Stored, last_customer_message_id
from maildesk.pipeline.tickets import add_event
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Agent, Contact, Message, Ticket

if TYPE_CHECKING:
    from maildesk.app import App

Send = Callable[[], None]
Files = list[tuple[str, str, bytes]]

_ACTIVE_AGENTS = select(Agent).where(Agent.active.is_(True))


def notify_agents(
    u: Unit,
    t: Ticket,
    event: str,
    references: list[str] | None = None,
    *,
    stored: Stored | None = None,
    seen: Sequence[Seen] = (),
) -> None:
    """§4: the assignee, or every agent skilled in the ticket's type (else all), is told,
    with the customer's files attached up to the cap (`stored`: the ids this mail's files
    got). A new ticket's mail also carries the customer's history and, when P7 assigned it,
    says so: the assignee gets one mail, not a notification and an assignment. `seen`: the
    mail's other To/Cc addresses and what they are on the ticket (SPEC §10: agents see
    who is copied on answers and who, not being a registered contact, gets nothing)."""
    s, app, msg = u.s, u.app, u.msg
    if t.assignee is not None:
        agents = [t.assignee]
    else:
        active = list(s.scalars(_ACTIVE_AGENTS))
        agents = [a for a in active if t.type in a.skills] or active
    files = files_in_hand(stored.file_ids, msg.attachments) if stored else []
    packed = pack(s, app, files)
    history = history_context(s, app, t) if event == "new" else None
    for agent in agents:
        queue_mail(
            s,
            app,
            template="agent_notification",
            to=agent.email,
            now=u.now,
            ticket=t,
            recipient_name=agent.name,
            auto_submitted="auto-generated",
            reply_to=app.cfg.support.address,
            in_reply_to=msg.message_id,
            references=references,
            record=False,
            attachments=packed.parts,
            context={
                "event": event,
                "body": msg.new_content,
                "sender": msg.from_addr,
                "sla_due_at": t.sla_due_at.astimezone(app.calendar.tz) if t.sla_due_at else None,
                "assigned_to_you": agent is t.assignee,
                "history": history,
                "copies": [
                    {"address": x.address, "name": x.name, "standing": x.standing.value}
                    for x in seen
                ],
                **packed.context,
            },
        )


def queue_unsupported_version(
    u: Unit, t: Ticket, contact: Contact, supported: list[str], **threading: Any
) -> None:
    """P15: tell the customer who opened `t` that its product version is out of support."""
    queue_mail(
        u.s,
        u.app,
        template="unsupported_version",
        to=contact.email,
        now=u.now,
        ticket=t,
        recipient_name=contact.name,
        context={"version": t.product_version, "supported_versions": supported},
        **threading,
    )


def first_request_body(s: Session, t: Ticket) -> str:
    """The text that opened the ticket (what the committee evaluates, P13)."""
    first = s.scalar(
        select(Message.body)
        .where(Message.ticket_number == t.number, Message.direction == "in", Message.public)
        .order_by(Message.id)
        .limit(1)
    )
    return first or ""


def committee_addresses(s: Session, app: App) -> list[str]:
    """P13's committee: its shared address, else its members and the agents flagged
    `committee = true` (SPEC §10: members need not be agents)."""
    if app.cfg.committee.address:
        return [app.cfg.committee.address]
    q = select(Agent.email).where(Agent.active.is_(True), Agent.committee.is_(True))
    agents = list(s.scalars(q.order_by(Agent.id)))
    members = list(app.cfg.committee.members)
    return members + [a for a in agents if a not in members]


def feature_deadline(app: App, type_set_at: datetime) -> datetime:
    """P13: the committee's answer is due `feature_decision_days` calendar days after the
    ticket became a feature request ("en un plazo máximo de 10 días"); T3 counts the same."""
    return type_set_at + timedelta(days=app.cfg.timers.feature_decision_days)


def forward_to_committee(s: Session, app: App, t: Ticket, now: datetime) -> Send | None:
    """P13: a feature request goes to the committee. Returns the customer's notice that it
    did, with the date they will hear back by (SPEC §10), for the caller to send after any
    answer it relays; None when no committee is configured (nobody could keep the promise)."""
    recipients = committee_addresses(s, app)
    if not recipients:
        add_event(s, t, now, "committee_not_configured")
        return None
    body = first_request_body(s, t)
    for to in recipients:
        queue_mail(
            s,
            app,
            template="feature_committee",
            to=to,
            now=now,
            ticket=t,
            auto_submitted="auto-generated",
            reply_to=app.cfg.support.address,
            record=False,  # internal: never part of the customer's transcript
            context={"customer_name": t.customer.name, "body": body},
        )
    add_event(s, t, now, "forwarded_to_committee", to=recipients)
    due = feature_deadline(app, t.type_set_at).astimezone(app.calendar.tz)
    by = date_in_words(due.date(), app.cfg.support.language)
    days = app.cfg.timers.feature_decision_days
    return customer_notice(s, app, t, "feature_forwarded", now, decision_by=by, days=days)


def customer_notice(
    s: Session,
    app: App,
    t: Ticket,
    template: str,
    now: datetime,
    *,
    attach: Callable[[], Files] | None = None,
    author: str | None = None,
    **context: Any,
) -> Send:
    """A deferred automatic notice to the requester, threaded into their conversation;
    `author` is the agent whose command caused it (told if it cannot be delivered)."""

    def send() -> None:
        queue_mail(
            s,
            app,
            template=template,
            to=t.requester.email,
            now=now,
            ticket=t,
            auto_submitted="auto-generated",
            in_reply_to=last_customer_message_id(s, t.number),
            recipient_name=t.requester.name,
            attachments=attach() if attach else (),
            context=context,
            author=author,
        )

    return send
