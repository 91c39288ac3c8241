"""Read model for stored bytes: a ticket's attachments and the original mails, as the
command line hands them out (`maildesk attachments`, `maildesk messages raw`).

Received mail is kept whole as a content-addressed blob (the message row, or for mail that
opened no ticket the inbound ledger, names its sha256); mail we sent is kept in its outbox
row, exactly as it was handed to the SMTP server. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from maildesk.store.models import Attachment, Blob, Inbox, Message, Outbox, Ticket

if TYPE_CHECKING:
    from maildesk.app import App


@dataclass(frozen=True)
class StoredAttachment:
    id: int
    at: datetime
    direction: str  # in | out
    sender: str
    filename: str
    content_type: str
    size: int
    sha256: str


def ticket_attachments(app: App, number: int) -> list[StoredAttachment] | None:
    """Every attachment of a ticket's messages, oldest first; None: no such ticket."""
    q = (
        select(
            Attachment.id,
            Message.at,
            Message.direction,
            Message.from_addr,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size,
            Attachment.sha256,
        )
        .join(Message, Attachment.message_pk == Message.id)
        .where(Message.ticket_number == number)
        .order_by(Attachment.id)
    )
    with app.db.transaction() as s:
        if s.get(Ticket, number) is None:
            return None
        return [StoredAttachment(*row) for row in s.execute(q)]


def blob(app: App, sha256: str) -> bytes:
    with app.db.transaction() as s:
        data = s.scalar(select(Blob.data).where(Blob.sha256 == sha256))
    if data is None:  # a foreign key keeps it: only a damaged database gets here
        raise LookupError(f"stored bytes {sha256} are missing")
    return bytes(data)


@dataclass(frozen=True)
class RawMail:
    data: bytes
    received: bool  # False: a mail maildesk sent
    copies: int  # distinct stored mails with this Message-ID (1 unless ids were reused)


def raw_message(app: App, message_id: str) -> RawMail | None:
    """The original bytes of the mail with this Message-ID (angle brackets optional):
    received mail first, then mail we sent. None when nothing has this id."""
    mid = message_id.strip()
    ids = {mid, f"<{mid.strip('<>')}>", mid.strip("<>")}
    with app.db.transaction() as s:
        shas = list(
            dict.fromkeys(
                [
                    *s.scalars(select(Message.raw_sha256).where(Message.message_id.in_(ids))),
                    *s.scalars(select(Inbox.raw_sha256).where(Inbox.message_id.in_(ids))),
                ]
            )
        )
        shas = [sha for sha in shas if sha]
        if shas:
            data = s.scalar(select(Blob.data).where(Blob.sha256 == shas[0]))
            return RawMail(bytes(data or b""), True, len(shas))
        sent = list(s.scalars(select(Outbox.raw).where(Outbox.message_id.in_(ids))))
        if sent:
            return RawMail(bytes(sent[0]), False, len(sent))
    return None
