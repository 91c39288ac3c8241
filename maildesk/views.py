"""Read models for the command line: tickets as plain JSON-ready dicts (SPEC §6 fields).

Read-only: nothing here writes, and nothing here imports the pipeline (an import-linter
contract keeps it so); replaying the quarantine is the pipeline's `accept.quarantine_replay`."""

from __future__ import annotations

from datetime import datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from maildesk.outbound.transcript import transcript_text
from maildesk.store.models import Blob, Message, Outbox, Quarantine, Ticket
from maildesk.store.participants import Listed, listed

if TYPE_CHECKING:
    from maildesk.app import App


def _iso(app: App, value: datetime | None) -> str | None:
    return value.astimezone(app.calendar.tz).isoformat() if value else None


def _summary(app: App, t: Ticket) -> dict[str, Any]:
    return {
        "number": t.number,
        "subject": t.subject,
        "state": t.state,
        "type": t.type,
        "priority": t.priority,
        "unclassified": t.unclassified,
        "customer": t.customer_id,
        "requester": t.requester.email,
        "assignee": t.assignee.email if t.assignee else None,
        "created_at": _iso(app, t.created_at),
        "sla_due_at": _iso(app, t.sla_due_at),
    }


def ticket_detail(app: App, number: int) -> dict[str, Any] | None:
    """A ticket with its messages (each outgoing one with its delivery) and events; the
    SPEC §6 fields, plus the people's names for readers."""
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        if t is None:
            return None
        out = _summary(app, t)
        out.update(
            customer_name=t.customer.name,
            requester_name=t.requester.name,
            assignee_name=t.assignee.name if t.assignee else None,
            product=t.product,
            product_version=t.product_version,
            unsupported_version=t.unsupported_version,
            resolved_at=_iso(app, t.resolved_at),
            closed_at=_iso(app, t.closed_at),
            resolution_reason=t.resolution_reason,
            follows_up=t.follows_up,
            viable=t.viable,
        )
        msgs = s.scalars(
            select(Message)
            .where(Message.ticket_number == number)
            .options(selectinload(Message.attachments))
            .order_by(Message.id)
        )
        out["participants"] = [_participant(app, p) for p in listed(s, number)]
        sent = _deliveries(app, s, number)
        out["messages"] = [_message(app, m, sent.get(m.message_id or "")) for m in msgs]
        out["events"] = [
            {"at": _iso(app, e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail}
            for e in t.events
        ]
        return out


def _participant(app: App, p: Listed) -> dict[str, Any]:
    """SPEC §10: every address on the ticket besides the requester; `mailed` says whether
    it gets the ticket's public mail in Cc today (a registered, active contact of the
    ticket's customer), `standing` why or why not."""
    return {
        "email": p.email,
        "name": p.name or None,
        "standing": p.standing,
        "mailed": p.mailed,
        "added_at": _iso(app, p.added_at),
        "changed_at": _iso(app, p.changed_at),
        "by": p.actor,
    }


def _message(app: App, m: Message, deliveries: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        "direction": m.direction,
        "kind": m.kind,
        "from": m.from_addr,
        "to": m.to_addrs,
        "subject": m.subject,
        "message_id": m.message_id,
        "date": _iso(app, m.at),
        "body": m.body,
        "attachments": [
            {
                "id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in m.attachments
        ],
        # The requester's (the To) delivery, and every recipient's when the mail was also
        # copied to participants: each address is one outbox row, delivered on its own.
        "delivery": deliveries[0] if deliveries else None,
        "deliveries": deliveries or [],
    }


def _deliveries(app: App, s: Session, number: int) -> dict[str, list[dict[str, Any]]]:
    """Where each mail queued for the ticket stands in the outbox, by Message-ID: one entry
    per recipient, in the order queued (the To first)."""
    rows = s.execute(
        select(
            Outbox.message_id,
            Outbox.to_addr,
            Outbox.state,
            Outbox.attempts,
            Outbox.sent_at,
            Outbox.last_error,
        )
        .where(Outbox.ticket_number == number)
        .order_by(Outbox.id)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for mid, to, state, attempts, at, err in rows:
        out.setdefault(mid, []).append(
            {
                "to": to,
                "state": state,
                "attempts": attempts,
                "sent_at": _iso(app, at),
                "last_error": err,
            }
        )
    return out


def transcript(app: App, number: int) -> str:
    """The whole public conversation as text (attached to the `closed` notice, T1)."""
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        return transcript_text(s, app, t) if t is not None else ""


class QuarantineState(StrEnum):
    WAITING = "waiting"  # never replayed, or its last replay failed again
    REPLAYED = "replayed"  # replayed with an outcome: nothing left to do
    DISCARDED = "discarded"  # an operator decided it needs no replay


def _state(q: Quarantine, waiting: bool) -> QuarantineState:
    if q.discarded_at is not None:
        return QuarantineState.DISCARDED
    return QuarantineState.WAITING if waiting else QuarantineState.REPLAYED


def _entry(app: App, q: Quarantine, waiting: bool, size: int) -> dict[str, Any]:
    return {
        "id": q.id,
        "at": _iso(app, q.at),
        "source": q.source,
        "state": _state(q, waiting).value,
        "size": size,
        "error_line": (q.error.strip().splitlines() or [""])[-1][:200],
        "replayed_at": _iso(app, q.replayed_at),
        "replay_outcome": q.replay_outcome,
        "discarded_at": _iso(app, q.discarded_at),
    }


def _entries(s: Session) -> Select[Any]:
    size = select(Blob.size).where(Blob.sha256 == Quarantine.raw_sha256).scalar_subquery()
    return select(Quarantine, Quarantine.waiting(), size).order_by(Quarantine.id)


def quarantine_list(app: App) -> list[dict[str, Any]]:
    """Every quarantine entry, oldest first, with its state."""
    with app.db.transaction() as s:
        return [_entry(app, q, w, size) for q, w, size in s.execute(_entries(s))]


#: Header fields `quarantine show` prints of the kept message.
SHOWN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")


def quarantine_entry(app: App, entry: int) -> dict[str, Any] | None:
    """One entry with its whole error and the kept message's main header fields, read
    leniently: the message is in quarantine because something about it is broken."""
    with app.db.transaction() as s:
        found = s.execute(_entries(s).where(Quarantine.id == entry)).first()
        if found is None:
            return None
        q, waiting, size = found
        raw = s.scalar(select(Blob.data).where(Blob.sha256 == q.raw_sha256)) or b""
        out = _entry(app, q, waiting, size)
    out["error"] = q.error
    head = BytesHeaderParser(policy=compat32).parsebytes(bytes(raw[: 256 * 1024]))
    out["headers"] = {name: _header_text(head.get(name)) for name in SHOWN_HEADERS}
    return out


def _header_text(value: Any) -> str | None:
    """A header as text whatever its encoding (RFC 2047 words decoded when they can be)."""
    if value is None:
        return None
    try:
        return str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def quarantined_raw(app: App, entry: int) -> bytes | None:
    """The kept bytes of an entry, exactly as they arrived."""
    with app.db.transaction() as s:
        raw = s.scalar(
            select(Blob.data)
            .join(Quarantine, Quarantine.raw_sha256 == Blob.sha256)
            .where(Quarantine.id == entry)
        )
        return bytes(raw) if raw is not None else None
