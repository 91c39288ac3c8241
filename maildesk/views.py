"""Read models for the command line: tickets as plain JSON-ready dicts (SPEC §6 fields)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from maildesk.store.models import Blob, Message, Quarantine, Ticket

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


def ticket_rows(app: App, state: str | None = None) -> list[dict[str, Any]]:
    with app.db.transaction() as s:
        q = (
            select(Ticket)
            .options(selectinload(Ticket.requester), selectinload(Ticket.assignee))
            .order_by(Ticket.number)
        )
        if state:
            q = q.where(Ticket.state == state)
        return [_summary(app, t) for t in s.scalars(q)]


def ticket_detail(app: App, number: int) -> dict[str, Any] | None:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        if t is None:
            return None
        out = _summary(app, t)
        out.update(
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
        out["messages"] = [
            {
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
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.sha256,
                    }
                    for a in m.attachments
                ],
            }
            for m in msgs
        ]
        out["events"] = [
            {"at": _iso(app, e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail}
            for e in t.events
        ]
        return out


def transcript(app: App, number: int) -> str:
    """The whole public conversation as text (attached to the `closed` notice, T1)."""
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        return transcript_text(s, app, t) if t is not None else ""


def transcript_text(s: Session, app: App, t: Ticket) -> str:
    """`transcript` inside the caller's unit of work, so it includes what was just written
    (an agent's last answer before `#close`; T1's closing). Internal notes and non-public
    rows are left out."""
    s.flush()
    msgs = s.scalars(select(Message).where(Message.ticket_number == t.number).order_by(Message.id))
    lines = [f"[{app.cfg.support.subject_prefix} #{t.number}] {t.subject}", ""]
    for m in msgs:
        if m.kind == "note" or not m.public:
            continue
        lines += [f"--- {_iso(app, m.at)}  {m.from_addr}", f"Subject: {m.subject}", "", m.body, ""]
    return "\n".join(lines)


def quarantine_list(app: App) -> list[dict[str, Any]]:
    with app.db.transaction() as s:
        return [
            {
                "id": q.id,
                "at": _iso(app, q.at),
                "source": q.source,
                "error_line": (q.error.strip().splitlines() or [""])[-1][:200],
                "replayed_at": _iso(app, q.replayed_at),
                "replay_outcome": q.replay_outcome,
            }
            for q in s.scalars(select(Quarantine).order_by(Quarantine.id))
        ]


def quarantine_replay(app: App, qid: int | None) -> list[tuple[int, str]]:
    """Feed quarantined messages (one, or all not yet replayed) through the pipeline again."""
    from maildesk.pipeline.accept import accept_or_quarantine

    with app.db.transaction() as s:
        q = select(Quarantine.id, Blob.data).join(Blob, Quarantine.raw_sha256 == Blob.sha256)
        q = q.where(Quarantine.id == qid) if qid else q.where(Quarantine.replayed_at.is_(None))
        items = list(s.execute(q))
    results = []
    for item_id, raw in items:
        outcome = accept_or_quarantine(app, raw, f"quarantine:{item_id}")
        label = (
            outcome.kind.value
            + (f" #{outcome.ticket_number}" if outcome.ticket_number else "")
            + f": {outcome.reason}"
        )
        with app.db.transaction() as s:
            row = s.get(Quarantine, item_id)
            if row is not None:
                row.replayed_at = datetime.now(UTC)
                row.replay_outcome = label[:50]
        results.append((item_id, label))
    return results
