"""What an agent's mail about a ticket carries for the first attention (issue 8, items 1–3):
the customer's files as real attachments up to the per-mail cap, the rest named with how to
get them, and the customer's history (the policy asks the agent to review it first).

Shared by the notifications (`tell`), the assignment mails (`handover`) and `#attachments`,
so it sits below them. Bytes in hand (the mail being ingested) are used as they are; stored
files are read from their blobs only when they are about to be attached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from maildesk.domain.dates import date_in_words
from maildesk.mail.inbound import Attachment as InboundFile
from maildesk.outbound.parcels import fit
from maildesk.store.files import StoredFile, blob_bytes
from maildesk.store.history import PastTicket, customer_history
from maildesk.store.models import Ticket

if TYPE_CHECKING:
    from maildesk.app import App

Part = tuple[str, str, bytes]  # (filename, content type, bytes): what compose attaches


@dataclass(frozen=True, slots=True)
class File:
    """A file of the ticket; `number` is its attachment id (what `#attachments N` and
    `maildesk attachments get` take). `data` is None until it is read from its blob."""

    number: int
    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes | None = None


def files_in_hand(ids: Sequence[int], attachments: Sequence[InboundFile]) -> list[File]:
    """The files of the mail being ingested, numbered by the ids `store_message` gave them."""
    return [
        File(n, a.filename, a.content_type, a.size, a.sha256, a.data)
        for n, a in zip(ids, attachments, strict=True)
    ]


def stored_files(rows: Iterable[StoredFile]) -> list[File]:
    return [File(r.id, r.filename, r.content_type, r.size, r.sha256) for r in rows]


def read_parts(s: Session, files: Sequence[File]) -> list[Part]:
    """The files as attachments, bytes equal to what the customer sent (one blob query for
    the ones not in hand)."""
    data = blob_bytes(s, [f.sha256 for f in files if f.data is None])
    return [
        (f.filename, f.content_type, f.data if f.data is not None else data[f.sha256])
        for f in files
        if f.data is not None or f.sha256 in data
    ]


@dataclass(frozen=True)
class Packed:
    """The attachments of one agent mail and what its template says about the files."""

    parts: list[Part] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


def pack(s: Session, app: App, files: Sequence[File]) -> Packed:
    """Attach, in order, every file that fits under `limits.attachments_per_mail_bytes`;
    the template lists all of them and tells how to get the ones left out."""
    cap = app.cfg.limits.attachments_per_mail_bytes
    kept, left = fit(files, cap)
    attached = {id(f) for f in kept}
    listed = [
        {
            "number": f.number,
            "filename": f.filename,
            "size": f.size,
            "attached": id(f) in attached,
            "too_big": f.size > cap,  # no mail can carry it: the command line only
        }
        for f in files
    ]
    context = {"files": listed, "files_left_out": bool(left), "attach_cap": cap}
    return Packed(read_parts(s, kept) if kept else [], context)


def history_context(s: Session, app: App, t: Ticket) -> dict[str, Any]:
    """The customer's other tickets for the template, dates in words (one query)."""
    h = customer_history(s, t.customer_id, t.number)
    return {
        "open": [_past(app, p) for p in h.open],
        "closed": [_past(app, p) for p in h.closed],
        "more_open": h.more_open,
        "empty": h.empty,
        "customer_id": t.customer_id,
    }


def _past(app: App, p: PastTicket) -> dict[str, Any]:
    local = p.at.astimezone(app.calendar.tz)
    return {
        "number": p.number,
        "tag": f"[{app.cfg.support.subject_prefix} #{p.number}]",
        "subject": p.subject,
        "state": p.state,
        "date": date_in_words(local.date(), app.cfg.support.language),
    }
