"""The rows every handler writes about the mail itself: the ledger row and the stored message.

Below every handler (customer, agent, relay, notices), so none of them imports another to
store a message. Core INSERTs on the session's connection: nothing reads these rows back in
the same unit of work, so they need no ORM flush.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from maildesk.pipeline.outcome import Outcome
from maildesk.pipeline.unit import Unit
from maildesk.store.blobs import store_blob
from maildesk.store.models import Attachment, Inbox, Message, Ticket

_INSERT_INBOX = insert(Inbox)
_INSERT_MESSAGE = insert(Message).returning(Message.id)
# The ids come back in the mail's order: notifications name each file by its id (the number
# `#attachments N` and `maildesk attachments get` take).
_INSERT_ATTACHMENT = insert(Attachment).returning(Attachment.id, sort_by_parameter_order=True)


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored message's id and its attachments' ids, in the order of `Inbound.attachments`."""

    pk: int
    file_ids: tuple[int, ...] = ()


def record_inbound(u: Unit, key: str, outcome: Outcome) -> None:
    """The ledger row: one per message, with its outcome. Its unique key is what makes a
    concurrent duplicate's transaction fail at commit (R1), leaving nothing of it."""
    msg = u.msg
    u.s.connection().execute(
        _INSERT_INBOX,
        {
            "message_key": key,
            "message_id": msg.message_id,
            "received_at": u.now,
            "source": u.source[:500],
            "sender": msg.from_addr[:320],
            "subject": msg.subject[:998],
            "outcome": outcome.kind.value,
            "reason": f"{u.decision.rule}: {outcome.reason}"[:200],
            "ticket_number": outcome.ticket_number,
            "raw_sha256": u.raw_sha,
        },
    )


def store_message(
    u: Unit, ticket: Ticket | None, kind: str, *, public: bool = True, body: str | None = None
) -> Stored:
    """Store the unit's mail and its attachments on `ticket` (already in the database) as a
    message of `kind`; `body` replaces the new content as the shown text."""
    msg, conn = u.msg, u.s.connection()
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
            "at": u.now,
            "body": msg.new_content if body is None else body,
            "full_text": msg.text,
            "raw_sha256": u.raw_sha,
            "public": public,
        },
    ).scalar_one()
    if not msg.attachments:
        return Stored(pk)
    for att in msg.attachments:
        store_blob(u.s, att.data, att.sha256)
    ids = conn.execute(
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
    ).scalars()
    return Stored(pk, tuple(ids))


def last_customer_message_id(s: Session, number: int) -> str | None:
    """Message-ID of the customer's newest mail on the ticket (the thread we answer into)."""
    return s.scalar(
        select(Message.message_id)
        .where(
            Message.ticket_number == number,
            Message.direction == "in",
            Message.kind == "customer",
            Message.message_id.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
