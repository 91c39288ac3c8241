"""R4: mail from a registered agent. Stored on its ticket; commands and relaying build on this."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.mail.inbound import Inbound
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.pipeline.route import Facts
from maildesk.store.models import Ticket

if TYPE_CHECKING:
    from maildesk.app import App


def handle_agent_mail(
    s: Session,
    app: App,
    msg: Inbound,
    raw_sha: str,
    facts: Facts,
    ticket: Ticket | None,
    now: datetime,
) -> Outcome:
    from maildesk.pipeline.apply import store_message
    from maildesk.pipeline.tickets import add_event

    if ticket is None:
        return Outcome(Kind.IGNORED, "agent mail without a ticket reference")
    store_message(s, msg, raw_sha, ticket, now, "agent", public=False)
    add_event(s, ticket, now, "agent_mail", msg.from_addr)
    return Outcome(Kind.FOLLOWED_UP, "agent mail stored", ticket.number)
