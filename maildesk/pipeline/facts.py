"""Look up, before routing, every fact the pure router needs (sender, referenced ticket, R1).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from maildesk.mail.classify import Classification, MailKind
from maildesk.mail.inbound import Inbound
from maildesk.mail.refs import plus_address_number, subject_ticket_number
from maildesk.mail.verp import bounced_row as verp_row
from maildesk.pipeline.route import BouncedRow, Facts, SenderFacts, SenderKind, TicketRef, Via
from maildesk.store.models import Contact, Customer, Inbox, Message, Outbox, Ticket

if TYPE_CHECKING:
    from maildesk.app import App


def message_key(msg: Inbound) -> str:
    """R1 identity: the Message-ID, or the content hash when there is none."""
    if msg.message_id:
        return "mid:" + msg.message_id.strip().lower()[:990]
    return "sha256:" + msg.content_hash


# Built once: constructing a statement costs as much as executing it.
_DUPLICATE = select(Inbox.id).where(Inbox.message_key == bindparam("key")).limit(1)
_CONTACT = (
    select(Contact.id, Customer.id, Customer.support_until)
    .join(Customer, Contact.customer_id == Customer.id)
    .where(Contact.email == bindparam("email"), Contact.active.is_(True), Customer.active.is_(True))
)
_TICKET_REF = select(Ticket.customer_id, Ticket.state).where(Ticket.number == bindparam("number"))
_STORED_IDS = select(Message.message_id, Message.ticket_number).where(
    Message.message_id.in_(bindparam("ids", expanding=True)), Message.ticket_number.is_not(None)
)


_OUTBOX_ROW = select(Outbox.id, Outbox.to_addr, Outbox.ticket_number)


def bounced_row(s: Session, app: App, msg: Inbound, cls: Classification) -> BouncedRow | None:
    """R2: the outbox row a bounce is about. Sent to a return path of ours, only that address
    counts: signed, it names its row (mail/verp.py); unsigned or of no row, it names none. Sent
    elsewhere (a mail from before return paths, an MTA that ignores the envelope), a Message-ID
    of ours it quotes finds the row, to record the bounce on its ticket only: Message-IDs are
    no secret (they travel in every reply's References), so they never suppress anyone."""
    secret, support = app.secret, app.cfg.support.address
    if cls.to_return_path:
        for address in msg.recipients:
            row_id = verp_row(secret, support, address)
            if row_id is not None:
                found = s.execute(_OUTBOX_ROW.where(Outbox.id == row_id)).first()
                if found is not None:
                    return BouncedRow(found[0], found[1], found[2], Via.RETURN_PATH)
        return None
    named = {r.lower() for r in cls.bounce_recipients}
    for mid in cls.bounced_message_ids:
        if app.our_ticket_ref(mid) is None:
            continue  # only our own (HMAC-signed) Message-IDs name a row of ours
        # One mail to a requester and colleagues is one row per recipient, one Message-ID:
        # the row is the copy sent to the address the report names, if it names one of them.
        rows = s.execute(_OUTBOX_ROW.where(Outbox.message_id == mid).order_by(Outbox.id)).all()
        if rows:
            found = next((r for r in rows if r[1].strip().lower() in named), rows[0])
            return BouncedRow(found[0], found[1], found[2], Via.MESSAGE_ID)
    return None


def find_sender(s: Session, app: App, address: str) -> SenderFacts:
    """R4 before R5: an agent is an agent even if also listed as a contact."""
    agent_id = app.agent_ids.get(address)
    if agent_id is not None:
        return SenderFacts(SenderKind.AGENT, address, agent_id=agent_id)
    if app.is_committee(address):  # SPEC §10: members who are not agents decide P13
        return SenderFacts(SenderKind.COMMITTEE, address)
    row = s.connection().execute(_CONTACT, {"email": address}).first()
    if row is None:
        # Staff who are not agents (supervisors, the committee, our own address) are never
        # treated as unregistered strangers (SPEC §10).
        kind = SenderKind.STAFF if app.is_staff(address) else SenderKind.UNKNOWN
        return SenderFacts(kind, address)
    contact_id, customer_id, support_until = row
    return SenderFacts(
        SenderKind.CONTACT,
        address,
        contact_id=contact_id,
        customer_id=customer_id,
        support_until=support_until,
    )


def _ticket_ref(s: Session, number: int, via: Via) -> TicketRef | None:
    row = s.connection().execute(_TICKET_REF, {"number": number}).first()
    return TicketRef(number, row[0], row[1], via) if row else None


def ticket_from_ids(s: Session, app: App, ids: tuple[str, ...]) -> int | None:
    """Newest first: our HMAC-signed ids prove their ticket; others must be stored with one.
    An id that looks like ours but fails the HMAC is ignored (a forged reference)."""
    foreign = []
    for mid in reversed(ids):
        number = app.our_ticket_ref(mid)
        if number:
            return number
        if number is None and not mid.startswith("md."):
            foreign.append(mid)
    if foreign:
        rows = s.connection().execute(_STORED_IDS, {"ids": foreign[:50]}).all()
        by_id = {mid: number for mid, number in rows}
        for mid in foreign:
            if mid in by_id:
                return by_id[mid]
    return None


def find_ticket(s: Session, app: App, msg: Inbound) -> TicketRef | None:
    """R7 reference order: threading headers, then plus address, then the subject tag."""
    ids = msg.references + tuple(i for i in msg.in_reply_to if i not in msg.references)
    number = ticket_from_ids(s, app, ids)
    if number is not None:
        ref = _ticket_ref(s, number, Via.REFERENCES)
        if ref:
            return ref
    number = plus_address_number(msg.recipients, app.cfg.support.address)
    if number is not None:
        ref = _ticket_ref(s, number, Via.PLUS_ADDRESS)
        if ref:
            return ref
    number = subject_ticket_number(msg.subject, app.cfg.support.subject_prefix)
    if number is not None:
        return _ticket_ref(s, number, Via.SUBJECT)
    return None


def gather(
    s: Session,
    app: App,
    msg: Inbound,
    cls: Classification,
    now: datetime,
    *,
    too_large: bool = False,
) -> Facts:
    duplicate = s.connection().scalar(_DUPLICATE, {"key": message_key(msg)})
    sender = find_sender(s, app, msg.from_addr)
    bounced = None
    row = bounced_row(s, app, msg, cls) if cls.kind is MailKind.BOUNCE else None
    if row is not None:  # the bounce is about that row: nothing else it quotes counts
        bounced = _ticket_ref(s, row.ticket_number, row.via) if row.ticket_number else None
    elif cls.bounced_message_ids and not cls.to_return_path:
        number = ticket_from_ids(s, app, tuple(cls.bounced_message_ids))
        bounced = _ticket_ref(s, number, Via.REFERENCES) if number else None
    return Facts(
        duplicate=duplicate is not None,
        sender=sender,
        ticket=find_ticket(s, app, msg) if not duplicate else None,
        bounced_ticket=bounced,
        today=now.astimezone(app.calendar.tz).date(),
        too_large=too_large,
        bounced_row=row,
    )
