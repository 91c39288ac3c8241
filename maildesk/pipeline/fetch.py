"""`#attachments [name or number]` (`#adjuntos`): a ticket's files mailed to the agent who asked.

Notifications attach what fits under `limits.attachments_per_mail_bytes` and name the rest;
this is how an agent gets the rest without a shell on the server. The files go, in order, in
as many mails as needed, each within the cap (`parcels.split`); a file bigger than the cap on
its own is never mailed: the first mail names it with the command that writes it to disk.
With no argument every file of the ticket goes once (the same bytes attached twice, e.g. an
agent's file kept on their mail and on the relayed answer, go once); a number is a file's
attachment id, a name matches exactly, else without regard to case — the rule of
`maildesk attachments get`, so the two read the same.

`check` runs with the other commands' checks, so an unknown name or number refuses the whole
mail (the agent gets the usual error mail, nothing is applied or relayed); `send` queues the
mails after the commands are applied and the answer, if any, relayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from maildesk.outbound.notices import queue_mail
from maildesk.outbound.parcels import split
from maildesk.pipeline.briefing import File, read_parts, stored_files
from maildesk.pipeline.tickets import add_event
from maildesk.pipeline.unit import Unit
from maildesk.store.files import StoredFile, ticket_files
from maildesk.store.models import Agent, Ticket

LISTED = 20  # files named in an error mail; a ticket with more says how many


def choose(files: Sequence[StoredFile], which: str) -> list[StoredFile]:
    """Every file (each content once), the one with this id, or those with this name."""
    if not which:
        seen: set[str] = set()
        unique = []
        for f in files:
            if f.sha256 not in seen:
                seen.add(f.sha256)
                unique.append(f)
        return unique
    if which.isdigit():
        return [f for f in files if f.id == int(which)]
    exact = [f for f in files if f.filename == which]
    return exact or [f for f in files if f.filename.casefold() == which.casefold()]


def check(s: Session, number: int | None, which: str) -> str:
    """Why `#attachments which` cannot be answered for ticket `number`, or ""."""
    if number is None:
        return "#attachments needs a ticket: answer one of its mails (keep the tag in the subject)"
    files = ticket_files(s, number)
    if not files:
        return "this ticket has no attachments"
    if choose(files, which):
        return ""
    names = ", ".join(f"{f.id} {f.filename}" for f in files[:LISTED])
    more = f" and {len(files) - LISTED} more" if len(files) > LISTED else ""
    return f"no attachment {which!r} on this ticket (its files: {names}{more})"


def send(u: Unit, t: Ticket, to: str, which: str) -> None:
    """Queue the chosen files to agent `to` in mails within the cap (`check` passed)."""
    cap = u.app.cfg.limits.attachments_per_mail_bytes
    mails, too_big = split(stored_files(choose(ticket_files(u.s, t.number), which)), cap)
    name = u.s.scalar(select(Agent.name).where(Agent.email == to)) or ""
    total = max(len(mails), 1)  # every file too big: one mail that says so
    for index in range(total):
        context = {
            "part": index + 1,
            "parts": total,
            "too_big": _listed(too_big) if index == 0 else [],
            "attach_cap": cap,
        }
        _queue(u, t, (to, name), mails[index] if mails else [], context)
    add_event(
        u.s,
        t,
        u.now,
        "attachments_mailed",
        to,
        files=[f.number for mail in mails for f in mail],
        too_big=[f.number for f in too_big],
        mails=len(mails),
    )


def _listed(files: Sequence[File]) -> list[dict[str, object]]:
    return [{"number": f.number, "filename": f.filename, "size": f.size} for f in files]


def _queue(
    u: Unit, t: Ticket, agent: tuple[str, str], files: list[File], context: dict[str, Any]
) -> None:
    queue_mail(
        u.s,
        u.app,
        template="agent_attachments",
        to=agent[0],
        now=u.now,
        ticket=t,
        recipient_name=agent[1],
        auto_submitted="auto-replied",
        reply_to=u.app.cfg.support.address,
        in_reply_to=u.msg.message_id,
        record=False,  # internal: never part of the customer's transcript
        attachments=read_parts(u.s, files),
        context={**context, "files": _listed(files)},
    )
