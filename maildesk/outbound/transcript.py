"""A ticket's public conversation as plain text (attached to the `closed` notice, T1).

One format for both paths: `transcript_text` reads one ticket in the caller's unit of work
(an agent's `#close`), and the timers' bulk path (`timers.batch`) builds the same text from
rows it already loaded, with `transcript_head` and `message_lines`.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.store.models import Message, Ticket

if TYPE_CHECKING:
    from maildesk.app import App


def transcript_head(prefix: str, number: int, subject: str) -> list[str]:
    return [f"[{prefix} #{number}] {subject}", ""]


def shown(kind: str, *, public: bool) -> bool:
    """Internal notes and non-public rows stay out of what the customer receives."""
    return kind != "note" and public


def message_lines(tz: tzinfo, at: datetime, from_addr: str, subject: str, body: str) -> list[str]:
    head = f"--- {at.astimezone(tz).isoformat()}  {from_addr}"
    return [head, f"Subject: {subject}", "", body, ""]


def transcript_text(s: Session, app: App, t: Ticket) -> str:
    """The transcript inside the caller's unit of work, so it includes what was just written
    (an agent's last answer before `#close`)."""
    s.flush()
    msgs = s.scalars(select(Message).where(Message.ticket_number == t.number).order_by(Message.id))
    lines = transcript_head(app.cfg.support.subject_prefix, t.number, t.subject)
    tz = app.calendar.tz
    for m in msgs:
        if shown(m.kind, public=m.public):
            lines += message_lines(tz, m.at, m.from_addr, m.subject, m.body)
    return "\n".join(lines)
