"""What a mail from a customer (or about one) does to the database: one handler per routing
action, each `handler(unit, ticket) -> Outcome` (`dispatch.HANDLERS` maps actions to them).

R2 bounces and R3 automatic mail are recorded on their ticket, never answered; R5/R6/size
rejections queue their notice; R7 follows up, reopens (P10) or confirms; R8/R9/P11 open a
ticket, acknowledge it and tell the agents.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from maildesk.domain.lifecycle import State
from maildesk.domain.sla import TicketType
from maildesk.outbound.notices import queue_mail, thread_ids
from maildesk.pipeline.outcome import Kind, Outcome, Refusal
from maildesk.pipeline.participants import Seen, cc_pairs, copied_on, inherit
from maildesk.pipeline.records import Stored, store_message
from maildesk.pipeline.route import Via
from maildesk.pipeline.tell import forward_to_committee, notify_agents, queue_unsupported_version
from maildesk.pipeline.tickets import (
    add_event,
    insert_event,
    new_ticket,
    pick_product,
    restart_sla,
    transition,
    unsupported_version,
)
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Contact, Participant, Ticket
from maildesk.store.participants import CC


def ignore(u: Unit, ticket: Ticket | None) -> Outcome:
    """R2/R3 without a ticket: kept in the ledger only."""
    return Outcome(Kind.IGNORED, u.decision.reason)


def bounce(u: Unit, ticket: Ticket | None) -> Outcome:
    """R2: the bounce is kept on the ticket of the mail that bounced, never answered. Only a
    permanent (5.x.x) failure reported to the return path of one outbox row suppresses
    automatic mail, to that row's recipient, for `bounce_suppress_days` (SPEC §10): what a
    report names, or a Message-ID it quotes, is recorded and never obeyed, so a forged
    bounce cannot silence another customer. A row without a ticket (a refusal, a notice to a
    contact without a contract) still suppresses its recipient."""
    row = u.facts.bounced_row
    target = _failed_address(u)
    if ticket is not None:
        store_message(u, ticket, "notice", public=False)
    add_event(
        u.s,
        ticket,
        u.now,
        "bounce",
        u.msg.from_addr,
        permanent=target is not None,
        recipients=list(u.cls.bounce_recipients),
        outbox_id=row.id if row else None,
        via=row.via if row else Via.REFERENCES,
    )
    if target is not None:
        _suppress(u, target, ticket)
    if ticket is None:
        return Outcome(Kind.IGNORED, "bounce of a mail without ticket")
    return Outcome(Kind.FOLLOWED_UP, "bounce", ticket.number)


def _failed_address(u: Unit) -> str | None:
    """The address to suppress: the recipient of the row whose signed return path the
    report came back to, when it says delivery failed for good (any permanent failure in it
    counts: a forwarder may name the final address, not the one we wrote to)."""
    row = u.facts.bounced_row
    if row is None or row.via is not Via.RETURN_PATH or not u.cls.bounce_permanent:
        return None
    return row.to_addr.strip().lower()


def _suppress(u: Unit, address: str, bounced_on: Ticket | None) -> None:
    """Suppress one contact; the event goes on the contact, on the ticket of the mail that
    bounced and on the contact's other tickets still open, as requester or as a colleague
    in Cc, where agents look."""
    contact = u.s.scalar(select(Contact).where(Contact.email == address))
    if contact is None:
        return
    days = u.app.cfg.timers.bounce_suppress_days
    contact.suppressed_until = u.now + timedelta(days=days)
    detail = {"until": contact.suppressed_until.isoformat(), "days": days, "address": address}
    open_tickets = select(Ticket.number).where(Ticket.state != State.CLOSED)
    requested = open_tickets.where(Ticket.requester_id == contact.id)
    copied = open_tickets.join(Participant, Participant.ticket_number == Ticket.number).where(
        Participant.contact_id == contact.id, Participant.standing == CC
    )
    first = [bounced_on.number] if bounced_on is not None else []
    others = sorted((set(u.s.scalars(requested)) | set(u.s.scalars(copied))) - set(first))
    numbers: list[int | None] = [*first, *others] or [None]  # none open: on the contact alone
    for number in numbers:
        insert_event(u.s, number, u.now, "contact_suppressed", detail=detail, contact_id=contact.id)


def auto_reply(u: Unit, ticket: Ticket | None) -> Outcome:
    """R3: an automatic answer on the sender's ticket is recorded for threading only."""
    assert ticket is not None  # R3 found it
    store_message(u, ticket, "notice", public=False)
    add_event(u.s, ticket, u.now, "auto_reply", u.msg.from_addr, reason=u.decision.reason)
    return Outcome(Kind.FOLLOWED_UP, u.decision.reason, ticket.number)


def reject(u: Unit, ticket: Ticket | None) -> Outcome:
    """R5/R6/size: refused; the notice goes out unless the mail wants none or the channel
    refuses in-protocol."""
    msg, d = u.msg, u.decision
    if not (u.silent or not u.notices or not msg.from_addr or d.notice is None):
        ctx: dict[str, object] = {"original_subject": msg.subject, "sender": msg.from_addr}
        if d.notice == "contract_expired":
            ctx["support_until"] = u.facts.sender.support_until
        elif d.notice == "too_large":
            ctx.update(size_bytes=msg.size, limit_bytes=u.app.cfg.limits.max_message_bytes)
        queue_mail(
            u.s,
            u.app,
            template=d.notice,
            to=msg.from_addr,
            now=u.now,
            in_reply_to=msg.message_id,
            context=ctx,
        )
    return Outcome(Kind.REJECTED, d.reason, refusal=Refusal(d.reason))


def sender_contact(u: Unit) -> Contact:
    """The registered sender with their customer (R5 guarantees one from NEW_TICKET on)."""
    options = (joinedload(Contact.customer),)
    contact = u.s.get(Contact, u.facts.sender.contact_id, options=options)
    assert contact is not None
    return contact


def open_ticket(u: Unit, ticket: Ticket | None) -> Outcome:
    """R8/R9/P11: a new ticket, acknowledged (P15 too) unless the mail wants no answer."""
    t = _create(u, sender_contact(u))
    return Outcome(Kind.TICKETED, u.decision.reason, t.number)


def _create(u: Unit, contact: Contact) -> Ticket:
    s, msg, d, now = u.s, u.msg, u.decision, u.now
    previous = s.get(Ticket, d.follows_up) if d.follows_up else None
    product: tuple[str | None, str | None]
    if previous is not None and previous.product:  # P11: it continues the closed one
        product = (previous.product, previous.product_version)
    else:
        product = pick_product(contact.customer, f"{msg.subject}\n{msg.new_content}")
    t = new_ticket(
        s,
        u.app,
        contact,
        msg.subject,
        product,
        now,
        follows_up=d.follows_up,
        last_customer_at=now,
        inherit=previous,
    )
    add_event(
        s, t, now, "created", msg.from_addr, rule=d.rule, reason=d.reason, follows_up=d.follows_up
    )
    if t.assignee is not None:
        add_event(s, t, now, "assigned", "system", **{"from": None, "to": t.assignee.email})
    stored = store_message(u, t, "customer")
    if previous is not None:
        inherit(u, t, previous.number)
    seen = copied_on(u, t)
    # Who is copied: known from this mail alone, unless a P11 ticket inherited more.
    cc = cc_pairs(seen) if previous is None else None
    refs = [msg.message_id] if msg.message_id else []
    supported = unsupported_version(s, t, now)
    if not u.silent:
        if supported is not None:
            queue_unsupported_version(
                u, t, contact, supported, in_reply_to=msg.message_id, references=refs, cc=cc
            )
        _acknowledge(u, t, contact, refs, seen, cc)
    notify_agents(u, t, "new", refs, stored=stored, seen=seen)
    if t.type is TicketType.FEATURE_REQUEST:  # P13: e.g. support.default_type set to it
        told = forward_to_committee(s, u.app, t, now)
        if told is not None and not u.silent:
            told()
    return t


def _acknowledge(
    u: Unit,
    t: Ticket,
    contact: Contact,
    refs: list[str],
    seen: tuple[Seen, ...],
    cc: list[tuple[str, str]] | None,
) -> None:
    ctx: dict[str, object] = {"missing_phone": not contact.phone}
    # The customer learns who will not hear from us, and why in their terms (P3): not a
    # registered contact of their company. Nothing says whose contact an address may be.
    ctx["not_copied"] = [x.address for x in seen if not x.mailed]
    if u.decision.follows_up:
        ctx["old_number"] = u.decision.follows_up
    queue_mail(
        u.s,
        u.app,
        template=u.decision.notice or "acknowledgement",
        to=contact.email,
        now=u.now,
        ticket=t,
        in_reply_to=u.msg.message_id,
        references=refs,
        recipient_name=contact.name,
        context=ctx,
        cc=cc,
    )


@dataclass(frozen=True, slots=True)
class _Reply:
    """An R7 reply once stored: its ticket, the thread, its stored ids, its To/Cc."""

    t: Ticket
    refs: list[str]
    stored: Stored
    seen: tuple[Seen, ...]


def _customer_reply(u: Unit, ticket: Ticket | None) -> _Reply:
    """What every R7 reply does first: stored on its ticket, which learns of the answer and
    of the colleagues it was written to (participants, SPEC §10)."""
    assert ticket is not None  # R7 found it
    stored = store_message(u, ticket, "customer")
    seen = copied_on(u, ticket)
    refs = thread_ids(u.s, ticket.number)
    ticket.last_customer_at = u.now
    ticket.updated_at = u.now
    return _Reply(ticket, refs, stored, seen)


def confirm(u: Unit, ticket: Ticket | None) -> Outcome:
    """R7: a thank-you on a resolved ticket keeps it resolved."""
    t = _customer_reply(u, ticket).t
    add_event(u.s, t, u.now, "customer_confirmed", u.msg.from_addr)
    return Outcome(Kind.FOLLOWED_UP, "customer confirmed", t.number)


def reopen(u: Unit, ticket: Ticket | None) -> Outcome:
    """P10: a reply within the window reopens the resolved ticket."""
    r = _customer_reply(u, ticket)
    t, refs = r.t, r.refs
    s, msg, now = u.s, u.msg, u.now
    transition(s, t, State.OPEN, now, msg.from_addr, "customer reply")
    add_event(s, t, now, "reopened", msg.from_addr)
    restart_sla(s, u.app, t, now, msg.from_addr)
    if not u.silent:
        contact = sender_contact(u)
        queue_mail(
            s,
            u.app,
            template="reopened",
            to=contact.email,
            now=now,
            ticket=t,
            in_reply_to=msg.message_id,
            references=refs,
            recipient_name=contact.name,
            context={"body": msg.new_content},
        )
    notify_agents(u, t, "reopened", refs, stored=r.stored, seen=r.seen)
    return Outcome(Kind.FOLLOWED_UP, "reopened", t.number)


def follow_up(u: Unit, ticket: Ticket | None) -> Outcome:
    """R7: a reply on an open ticket; the agents are told."""
    r = _customer_reply(u, ticket)
    t = r.t
    add_event(u.s, t, u.now, "customer_reply", u.msg.from_addr, via=u.decision.reason)
    notify_agents(u, t, "followup", r.refs, stored=r.stored, seen=r.seen)
    return Outcome(Kind.FOLLOWED_UP, u.decision.reason, t.number)
