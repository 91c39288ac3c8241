"""Assignment is announced (issue 8 item 2): a ticket that changes hands tells both hands.

The new assignee gets "assigned to you": the ticket's summary, its SLA due time in words, the
customer's last message with its files (attached up to the cap, as notifications do) and the
customer's history, so the first attention can start from that one mail. The previous
assignee gets a one-line notice. Nobody is told of their own doing: an agent who takes a
ticket by answering it, or assigns it to themselves, gets nothing, and neither does an agent
who hands their own ticket over. A new ticket's auto-assignment (P7) is said by its
notification ("asignado a usted"), so it never comes here: one mail, not two.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from sqlalchemy import select

from maildesk.domain.dates import datetime_in_words
from maildesk.outbound.notices import queue_mail
from maildesk.pipeline.briefing import history_context, pack, stored_files
from maildesk.pipeline.unit import Unit
from maildesk.store.files import last_request
from maildesk.store.models import Agent, Ticket

SYSTEM = "system"  # the actor of P7's auto-assignment


def announce(u: Unit, t: Ticket, before: Agent | None, actor: str) -> None:
    """Tell the new and the previous assignee of `t` when it changed hands since `before`
    (`actor`: the address of who changed it, or "system" for P7)."""
    after = t.assignee
    if after is before:
        return
    if after is not None and after.email != actor:
        _assigned(u, t, after, actor)
    if before is not None and before.email != actor:
        _unassigned(u, t, before, actor)


def _by(u: Unit, actor: str) -> str:
    """Who made the change, as people call them: the agent's name, or "" for P7."""
    if actor == SYSTEM:
        return ""
    name = u.s.scalar(select(Agent.name).where(Agent.email == actor))
    return name or actor


def _assigned(u: Unit, t: Ticket, agent: Agent, actor: str) -> None:
    s, app = u.s, u.app
    last = last_request(s, t.number)
    packed = pack(s, app, stored_files(last.files) if last else [])
    lang, tz = app.cfg.support.language, app.calendar.tz
    due = datetime_in_words(t.sla_due_at, lang, tz) if t.sla_due_at else ""
    queue_mail(
        s,
        app,
        template="agent_assigned",
        to=agent.email,
        now=u.now,
        ticket=t,
        recipient_name=agent.name,
        auto_submitted="auto-generated",
        reply_to=app.cfg.support.address,
        in_reply_to=last.message_id if last else None,
        record=False,
        attachments=packed.parts,
        context={
            "assigned_by": _by(u, actor),
            "sla_due_words": due,
            "opened_words": datetime_in_words(t.created_at, lang, tz),
            "body": last.body if last else "",
            "sender": last.from_addr if last else "",
            "received_words": datetime_in_words(last.at, lang, tz) if last else "",
            "history": history_context(s, app, t),
            **packed.context,
        },
    )


def _unassigned(u: Unit, t: Ticket, agent: Agent, actor: str) -> None:
    new = t.assignee
    queue_mail(
        u.s,
        u.app,
        template="agent_unassigned",
        to=agent.email,
        now=u.now,
        ticket=t,
        recipient_name=agent.name,
        auto_submitted="auto-generated",
        reply_to=u.app.cfg.support.address,
        record=False,
        context={
            "new_assignee": (new.name or new.email) if new is not None else "",
            "assigned_by": _by(u, actor),
        },
    )
