"""Relay an agent's answer to the customer (SPEC §4): a public reply from the support address.

The agent's words reach the customer wrapped by the `agent_reply` template, threaded into the
customer's own conversation (In-Reply-To = the customer's last message on the ticket), as mail
written by a person: no Auto-Submitted, no loop guards. The agent gets no echo.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from maildesk.outbound.notices import queue_mail
from maildesk.pipeline.records import last_customer_message_id
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Agent, Attachment, Message, Ticket

_VALEDICTION_PUNCT = re.compile(r"[\s,.;:!-]+$")


def strip_agent_signature(body: str, agent: Agent) -> str:
    """Drop trailing lines that only name the agent: `agent_reply` signs with their name.

    `strip_quotes` (at parse time) already removed `-- ` signatures and quoted history; this
    catches the bare "Ana" / "Ana López" / address line agents type under their answer."""
    names = {n.casefold() for n in (agent.name, agent.email) if n}
    if agent.name:
        names.add(agent.name.split()[0].casefold())
    lines = body.rstrip().split("\n")
    while lines and (
        not lines[-1].strip() or _VALEDICTION_PUNCT.sub("", lines[-1].strip()).casefold() in names
    ):
        lines.pop()
    return "\n".join(lines).strip("\n")


def relay_answer(u: Unit, t: Ticket, agent: Agent, body: str) -> str | None:
    """Queue the public answer to the requester; returns its Message-ID (None if not sent)."""
    s, msg, now = u.s, u.msg, u.now
    queued = queue_mail(
        s,
        u.app,
        template="agent_reply",
        to=t.requester.email,
        now=now,
        ticket=t,
        automatic=False,  # a person wrote it: no Auto-Submitted (§7)
        in_reply_to=last_customer_message_id(s, t.number),
        kind="agent",
        attachments=[(a.filename, a.content_type, a.data) for a in msg.attachments],
        recipient_name=t.requester.name,
        context={"body": body, "agent_name": agent.name or agent.email},
        author=agent.email,  # told if it cannot be delivered (issue 8 item 6)
    )
    if queued is None:
        return None
    row = s.scalar(select(Message).where(Message.message_id == queued.message_id))
    if row is not None:
        for a in msg.attachments:  # blobs were stored with the agent's inbound mail
            s.add(
                Attachment(
                    message_pk=row.id,
                    filename=a.filename,
                    content_type=a.content_type,
                    size=a.size,
                    sha256=a.sha256,
                )
            )
    t.last_agent_public_at = now  # T2 (P12) counts from the last public answer
    if t.first_response_at is None:  # SPEC §10: first response = the first public answer
        t.first_response_at = now
    t.updated_at = now
    return queued.message_id
