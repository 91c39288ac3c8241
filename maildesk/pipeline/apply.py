"""Apply a routing Decision: the only writer for inbound mail, inside the caller's transaction.

Ticket, message, attachment, event and outbox rows are all written here in ONE transaction,
so a crash leaves all of it or none of it (transactional outbox).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, joinedload

from maildesk.mail.classify import Classification
from maildesk.mail.inbound import Inbound
from maildesk.outbound.notices import queue_mail, thread_ids
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.pipeline.route import Action, Decision, Facts
from maildesk.pipeline.tickets import (
    add_event,
    insert_event,
    new_ticket,
    pick_product,
    transition,
    unsupported_version,
)
from maildesk.store.blobs import store_blob
from maildesk.store.models import (
    Agent,
    Attachment,
    Contact,
    Inbox,
    Message,
    Ticket,
)

if TYPE_CHECKING:
    from maildesk.app import App


_INSERT_INBOX = insert(Inbox)
_INSERT_MESSAGE = insert(Message).returning(Message.id)
_INSERT_ATTACHMENT = insert(Attachment)


def record_inbound(
    s: Session,
    msg: Inbound,
    raw_sha: str,
    source: str,
    now: datetime,
    key: str,
    outcome: Outcome,
    rule: str,
) -> None:
    """The ledger row: one per message, with its outcome. Its unique key is what makes a
    concurrent duplicate's transaction fail at commit (R1), leaving nothing of it."""
    s.connection().execute(
        _INSERT_INBOX,
        {
            "message_key": key,
            "message_id": msg.message_id,
            "received_at": now,
            "source": source[:500],
            "sender": msg.from_addr[:320],
            "subject": msg.subject[:998],
            "outcome": outcome.kind.value,
            "reason": f"{rule}: {outcome.reason}"[:200],
            "ticket_number": outcome.ticket_number,
            "raw_sha256": raw_sha,
        },
    )


def store_message(
    s: Session,
    msg: Inbound,
    raw_sha: str,
    ticket: Ticket | None,
    now: datetime,
    kind: str,
    public: bool = True,
    body: str | None = None,
) -> int:
    """Store an inbound message and its attachments; returns the message row's id.

    Core INSERTs on the session's connection: nothing reads these rows back in the same
    unit of work, so they need no ORM flush (`ticket` must already be in the database)."""
    conn = s.connection()
    pk: int = conn.execute(
        _INSERT_MESSAGE,
        {
            "ticket_number": ticket.number if ticket else None,
            "direction": "in",
            "kind": kind,
            "from_addr": msg.from_addr,
            "to_addrs": ", ".join(msg.to + msg.cc),
            "subject": msg.subject,
            "message_id": msg.message_id,
            "at": now,
            "body": msg.new_content if body is None else body,
            "full_text": msg.text,
            "raw_sha256": raw_sha,
            "public": public,
        },
    ).scalar_one()
    for att in msg.attachments:
        store_blob(s, att.data, att.sha256)
    if msg.attachments:
        conn.execute(
            _INSERT_ATTACHMENT,
            [
                {
                    "message_pk": pk,
                    "filename": att.filename,
                    "content_type": att.content_type,
                    "size": att.size,
                    "sha256": att.sha256,
                }
                for att in msg.attachments
            ],
        )
    return pk


_ACTIVE_AGENTS = select(Agent).where(Agent.active.is_(True))


def notify_agents(
    s: Session,
    app: App,
    t: Ticket,
    msg: Inbound,
    now: datetime,
    event: str,
    references: list[str] | None = None,
) -> None:
    """§4: the assignee, or every agent skilled in the ticket's type (else all), is told."""
    if t.assignee is not None:
        agents = [t.assignee]
    else:
        active = list(s.scalars(_ACTIVE_AGENTS))
        agents = [a for a in active if t.type in a.skills] or active
    for agent in agents:
        queue_mail(
            s,
            app,
            template="agent_notification",
            to=agent.email,
            now=now,
            ticket=t,
            recipient_name=agent.name,
            auto_submitted="auto-generated",
            reply_to=app.cfg.support.address,
            in_reply_to=msg.message_id,
            references=references,
            record=False,
            context={
                "event": event,
                "body": msg.new_content,
                "sender": msg.from_addr,
                "attachments": [{"filename": a.filename, "size": a.size} for a in msg.attachments],
                "sla_due_at": t.sla_due_at.astimezone(app.calendar.tz) if t.sla_due_at else None,
            },
        )


def queue_unsupported_version(
    s: Session,
    app: App,
    t: Ticket,
    contact: Contact,
    supported: list[str],
    now: datetime,
    **threading: Any,
) -> None:
    """P15: tell the customer who opened `t` that its product version is out of support."""
    queue_mail(
        s,
        app,
        template="unsupported_version",
        to=contact.email,
        now=now,
        ticket=t,
        recipient_name=contact.name,
        context={"version": t.product_version, "supported_versions": supported},
        **threading,
    )


def create_ticket(
    s: Session,
    app: App,
    msg: Inbound,
    raw_sha: str,
    contact: Contact,
    now: datetime,
    decision: Decision,
    acknowledge: bool,
) -> Ticket:
    t = new_ticket(
        s,
        app,
        contact,
        msg.subject,
        pick_product(contact.customer, f"{msg.subject}\n{msg.new_content}"),
        now,
        follows_up=decision.follows_up,
        last_customer_at=now,
    )
    add_event(
        s,
        t,
        now,
        "created",
        msg.from_addr,
        rule=decision.rule,
        reason=decision.reason,
        follows_up=decision.follows_up,
    )
    if t.assignee is not None:
        add_event(s, t, now, "assigned", "system", **{"from": None, "to": t.assignee.email})
    store_message(s, msg, raw_sha, t, now, "customer")
    refs = [msg.message_id] if msg.message_id else []
    supported = unsupported_version(s, t, now)
    if supported is not None and acknowledge:
        queue_unsupported_version(
            s, app, t, contact, supported, now, in_reply_to=msg.message_id, references=refs
        )
    if acknowledge:
        template = decision.notice or "acknowledgement"
        ctx = {"missing_phone": not contact.phone}
        if decision.follows_up:
            ctx["old_number"] = decision.follows_up
        queue_mail(
            s,
            app,
            template=template,
            to=contact.email,
            now=now,
            ticket=t,
            in_reply_to=msg.message_id,
            references=refs,
            recipient_name=contact.name,
            context=ctx,
        )
    notify_agents(s, app, t, msg, now, "new", refs)
    if t.type == "nuevo_requerimiento":  # P13: e.g. support.default_type set to it
        from maildesk.pipeline.agent_commands import forward_to_committee

        forward_to_committee(s, app, t, now)
    return t


def _reject(
    s: Session,
    app: App,
    msg: Inbound,
    decision: Decision,
    facts: Facts,
    now: datetime,
    silent: bool,
) -> None:
    if silent or not msg.from_addr or decision.notice is None:
        return
    ctx: dict[str, object] = {"original_subject": msg.subject, "sender": msg.from_addr}
    if decision.notice == "contract_expired":
        ctx["support_until"] = facts.sender.support_until
    elif decision.notice == "too_large":
        ctx.update(size_bytes=msg.size, limit_bytes=app.cfg.limits.max_message_bytes)
    queue_mail(
        s,
        app,
        template=decision.notice,
        to=msg.from_addr,
        now=now,
        in_reply_to=msg.message_id,
        context=ctx,
    )


def _bounce(
    s: Session, app: App, t: Ticket, msg: Inbound, cls: Classification, raw_sha: str, now: datetime
) -> None:
    store_message(s, msg, raw_sha, t, now, "notice", public=False)
    add_event(
        s,
        t,
        now,
        "bounce",
        msg.from_addr,
        permanent=cls.bounce_permanent,
        recipients=list(cls.bounce_recipients),
    )
    if not cls.bounce_permanent:
        return
    days = app.cfg.timers.bounce_suppress_days
    for address in cls.bounce_recipients:
        contact = s.scalar(select(Contact).where(Contact.email == address.lower()))
        if contact is not None:
            contact.suppressed_until = now + timedelta(days=days)
            insert_event(
                s,
                t.number,
                now,
                "contact_suppressed",
                detail={"until": contact.suppressed_until.isoformat(), "days": days},
                contact_id=contact.id,
            )


# What notices and notifications read of a ticket, loaded with it in one SELECT.
_WITH_PEOPLE = (
    joinedload(Ticket.customer),
    joinedload(Ticket.requester),
    joinedload(Ticket.assignee),
)


def _sender_contact(s: Session, facts: Facts) -> Contact:
    """The registered sender with their customer (R5 guarantees one from NEW_TICKET on)."""
    contact = s.get(Contact, facts.sender.contact_id, options=(joinedload(Contact.customer),))
    assert contact is not None
    return contact


def apply_decision(
    s: Session,
    app: App,
    msg: Inbound,
    raw_sha: str,
    cls: Classification,
    facts: Facts,
    decision: Decision,
    now: datetime,
    *,
    notices: bool = True,
) -> Outcome:
    """Write what the decision says; returns the one outcome of this message.

    notices=False: rejections queue no notice (the channel refuses in-protocol instead)."""
    a = decision.action
    silent = cls.suppress_autoreply
    ticket = s.get(Ticket, decision.ticket, options=_WITH_PEOPLE) if decision.ticket else None
    if a is Action.IGNORE:
        return Outcome(Kind.IGNORED, decision.reason)
    if a is Action.BOUNCE_ON_TICKET and ticket is not None:
        _bounce(s, app, ticket, msg, cls, raw_sha, now)
        return Outcome(Kind.FOLLOWED_UP, "bounce", ticket.number)
    if a is Action.AUTO_ON_TICKET and ticket is not None:
        store_message(s, msg, raw_sha, ticket, now, "notice", public=False)
        add_event(s, ticket, now, "auto_reply", msg.from_addr, reason=decision.reason)
        return Outcome(Kind.FOLLOWED_UP, decision.reason, ticket.number)
    if a is Action.AGENT_MAIL:
        from maildesk.pipeline.agent_mail import handle_agent_mail

        return handle_agent_mail(s, app, msg, raw_sha, facts, ticket, now)
    if a is Action.REJECT:
        _reject(s, app, msg, decision, facts, now, silent or not notices)
        return Outcome(Kind.REJECTED, decision.reason)
    if a is Action.NEW_TICKET:
        contact = _sender_contact(s, facts)
        t = create_ticket(s, app, msg, raw_sha, contact, now, decision, acknowledge=not silent)
        return Outcome(Kind.TICKETED, decision.reason, t.number)
    assert ticket is not None
    store_message(s, msg, raw_sha, ticket, now, "customer")
    refs = thread_ids(s, ticket.number)
    ticket.last_customer_at = now
    ticket.updated_at = now
    if a is Action.CONFIRM:
        add_event(s, ticket, now, "customer_confirmed", msg.from_addr)
        return Outcome(Kind.FOLLOWED_UP, "customer confirmed", ticket.number)
    if a is Action.REOPEN:
        transition(s, ticket, "open", now, msg.from_addr, "customer reply")
        add_event(s, ticket, now, "reopened", msg.from_addr)
        if not silent:
            contact = _sender_contact(s, facts)
            queue_mail(
                s,
                app,
                template="reopened",
                to=contact.email,
                now=now,
                ticket=ticket,
                in_reply_to=msg.message_id,
                references=refs,
                recipient_name=contact.name,
                context={"body": msg.new_content},
            )
        notify_agents(s, app, ticket, msg, now, "reopened", refs)
        return Outcome(Kind.FOLLOWED_UP, "reopened", ticket.number)
    add_event(s, ticket, now, "customer_reply", msg.from_addr, via=decision.reason)
    notify_agents(s, app, ticket, msg, now, "followup", refs)
    return Outcome(Kind.FOLLOWED_UP, decision.reason, ticket.number)
