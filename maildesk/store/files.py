"""The files kept on a ticket: its messages' attachments, as plain rows, and their bytes.

An attachment's row id is the number people use for it: the agents' `#attachments N`, the
notifications' lists and `maildesk attachments get TICKET N` all name a file by it. The bytes
live once per sha256 in `blobs`; they are read only for the files about to be mailed, so a
ticket with a hundred screenshots costs one small query until someone asks for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from maildesk.store.models import Attachment, Blob, Message

__all__ = ["LastRequest", "StoredFile", "blob_bytes", "last_request", "ticket_files"]


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One attachment row (metadata only: `filename` is never a path)."""

    id: int
    message_pk: int
    filename: str
    content_type: str
    size: int
    sha256: str


_FILE_COLUMNS = (
    Attachment.id,
    Attachment.message_pk,
    Attachment.filename,
    Attachment.content_type,
    Attachment.size,
    Attachment.sha256,
)
_TICKET_FILES = (
    select(*_FILE_COLUMNS)
    .join(Message, Message.id == Attachment.message_pk)
    .where(Message.ticket_number == bindparam("number"))
    .order_by(Attachment.id)
)
_MESSAGE_FILES = (
    select(*_FILE_COLUMNS).where(Attachment.message_pk == bindparam("pk")).order_by(Attachment.id)
)


def ticket_files(s: Session, number: int) -> list[StoredFile]:
    """Every attachment of every message stored on ticket `number`, oldest first."""
    return [StoredFile(*row) for row in s.execute(_TICKET_FILES, {"number": number})]


def message_files(s: Session, message_pk: int) -> list[StoredFile]:
    """The attachments of one stored message, in the order the mail carried them."""
    return [StoredFile(*row) for row in s.execute(_MESSAGE_FILES, {"pk": message_pk})]


def blob_bytes(s: Session, sha256s: Iterable[str]) -> dict[str, bytes]:
    """The bytes of the given blobs, one query; a hash with no blob is simply absent."""
    wanted = sorted(set(sha256s))
    if not wanted:
        return {}
    rows = s.execute(select(Blob.sha256, Blob.data).where(Blob.sha256.in_(wanted)))
    return {sha: bytes(data) for sha, data in rows}


@dataclass(frozen=True, slots=True)
class LastRequest:
    """The newest public inbound message of a ticket: what the customer last asked (or, for a
    ticket an agent opened on the customer's behalf, the request as the agent wrote it)."""

    pk: int
    message_id: str | None
    from_addr: str
    at: datetime
    body: str
    files: tuple[StoredFile, ...]


_LAST_REQUEST = (
    select(Message.id, Message.message_id, Message.from_addr, Message.at, Message.body)
    .where(
        Message.ticket_number == bindparam("number"),
        Message.direction == "in",
        Message.public.is_(True),
    )
    .order_by(Message.id.desc())
    .limit(1)
)


def last_request(s: Session, number: int) -> LastRequest | None:
    """The ticket's last customer message with its files, or None (two small queries)."""
    row = s.execute(_LAST_REQUEST, {"number": number}).first()
    if row is None:
        return None
    pk, message_id, from_addr, at, body = row
    return LastRequest(pk, message_id, from_addr, at, body, tuple(message_files(s, pk)))
