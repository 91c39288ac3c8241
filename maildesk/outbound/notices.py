"""Queue outgoing mail in the outbox, in the caller's transaction (transactional outbox).

Every automatic mail passes the loop guards (`guards.py`: bounce suppression R2, the
per-sender notice rate R5, the per-recipient daily cap) before it is composed here, so no
rule elsewhere re-implements them.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from maildesk.outbound.compose import compose
from maildesk.outbound.guards import blocked, suppressed_event
from maildesk.outbound.recipients import PARTICIPANT_MAIL, copies, refused_recipient
from maildesk.outbound.templates import Rendered
from maildesk.store.models import Event, Message, Outbox, Ticket
from maildesk.store.participants import mailed

if TYPE_CHECKING:
    from maildesk.app import App


@dataclass(frozen=True)
class Queued:
    message_id: str


def support_context(app: App) -> dict[str, Any]:
    c = app.cfg
    es = c.support.language == "es"
    days = "lunes a viernes" if es else "Monday to Friday"
    tz = (
        "hora del centro"
        if es and c.calendar.timezone == "America/Mexico_City"
        else (c.calendar.timezone)
    )
    word = "de" if es else "from"
    to = "a" if es else "to"
    return {
        "address": c.support.address,
        "prefix": c.support.subject_prefix,
        "team_name": c.support.team_name or ("Soporte técnico" if es else "Technical support"),
        "hours_text": f"{days} {word} {c.calendar.open} {to} {c.calendar.close} ({tz})",
        "timezone": c.calendar.timezone,
    }


def ticket_tag(app: App, number: int) -> str:
    return f"[{app.cfg.support.subject_prefix} #{number}]"


def ticket_context(app: App, t: Ticket) -> dict[str, Any]:
    """What templates may know about a ticket (plain data, local times)."""
    return ticket_context_of(
        app,
        {
            "number": t.number,
            "subject": t.subject,
            "state": t.state,
            "type": t.type,
            "priority": t.priority,
            "unclassified": t.unclassified,
            "customer_name": t.customer.name,
            "requester_name": t.requester.name,
            "requester_email": t.requester.email,
            "requester_phone": t.requester.phone,
            "product": t.product,
            "product_version": t.product_version,
            "created_at": t.created_at,
            "sla_due_at": t.sla_due_at,
            "follows_up": t.follows_up,
            "assignee_name": t.assignee.name if t.assignee else "",
            "resolution_reason": t.resolution_reason,
        },
    )


def ticket_context_of(app: App, v: Mapping[str, Any]) -> dict[str, Any]:
    """`ticket_context` from flat column values (an ORM ticket's, or a bulk query's row), so
    the one-mail and the bulk paths give templates exactly the same data."""
    tz = app.calendar.tz
    return {
        "number": v["number"],
        "tag": ticket_tag(app, v["number"]),
        "subject": v["subject"],
        "state": v["state"],
        "type": v["type"],
        "priority": v["priority"],
        "unclassified": v["unclassified"],
        "customer": v["customer_name"],
        "requester_name": v["requester_name"],
        "requester_email": v["requester_email"],
        "requester_phone": v["requester_phone"] or "",
        "product": v["product"] or "",
        "product_version": v["product_version"] or "",
        "created_at": v["created_at"].astimezone(tz),
        "sla_due_at": v["sla_due_at"].astimezone(tz) if v["sla_due_at"] else None,
        "follows_up": v["follows_up"],
        "assignee_name": v["assignee_name"] or "",
        "resolution_reason": v["resolution_reason"] or "",
    }


# Only public messages: the customer's mail and what was sent to them. Agents' own mail,
# notes and internal notices never reach the customer, so their ids must not either (a
# reader cannot thread on ids it never saw, and they would leak how the desk works).
_THREAD = (
    select(Message.message_id)
    .where(
        Message.ticket_number == bindparam("number"),
        Message.message_id.is_not(None),
        Message.public.is_(True),
    )
    .order_by(Message.id)
)


def thread_ids(s: Session, ticket_number: int) -> list[str]:
    """Message-IDs of a ticket's public conversation, oldest first (for References)."""
    rows = s.scalars(_THREAD, {"number": ticket_number})
    return [r for r in rows if r]


_INSERT_OUTBOX = insert(Outbox)
_INSERT_MESSAGE = insert(Message)
_INSERT_EVENT = insert(Event)


@dataclass(frozen=True)
class Letter:
    """One mail past its loop guards, as `build_mail` composes it: whom it goes to, what it
    is (template, kind) and where it sits in the ticket's thread."""

    template: str
    to: str
    number: int | None
    in_reply_to: str | None
    references: Sequence[str]
    automatic: bool = True
    auto_submitted: str = "auto-replied"
    reply_to: str | None = None
    kind: str = "notice"
    attachments: Sequence[tuple[str, str, bytes]] = ()
    record: bool = True
    to_name: str = ""
    cc: Sequence[tuple[str, str]] = ()


def queue_mail(
    s: Session,
    app: App,
    *,
    template: str,
    to: str,
    now: datetime,
    ticket: Ticket | None = None,
    context: dict[str, Any] | None = None,
    automatic: bool = True,
    auto_submitted: str = "auto-replied",
    in_reply_to: str | None = None,
    references: Sequence[str] | None = None,
    reply_to: str | None = None,
    kind: str = "notice",
    attachments: Sequence[tuple[str, str, bytes]] = (),
    recipient_name: str = "",
    record: bool = True,
    author: str | None = None,
    cc: Sequence[tuple[str, str]] | None = None,
) -> Queued | None:
    """Render, compose and queue one mail; None (with an event) when a loop guard stops it.
    `author`: the agent whose answer (or command) this mail is, told if it fails for good.
    `cc`: the ticket's participants when the caller knows them (see `_copied`). The loop
    guards hold per address: one outbox row per recipient who passes them, all with the
    same bytes and Message-ID; the headers name the requester and the participants who pass."""
    to = to.lower()
    copied = _copied(s, ticket, template, to, cc)
    number = ticket.number if ticket else None
    candidates = [to, *(a for _, a in copied)]
    passed = [
        a for a in candidates if _passes(s, app, template, a, now, number, automatic=automatic)
    ]
    if not passed:
        return None
    refs = _references(s, number, references, in_reply_to)
    letter = Letter(
        template=template,
        to=to,
        number=number,
        in_reply_to=in_reply_to or (refs[-1] if refs else None),
        references=refs,
        automatic=automatic,
        auto_submitted=auto_submitted,
        reply_to=reply_to,
        kind=kind,
        attachments=attachments,
        record=record,
        to_name=recipient_name,
        cc=[(name, a) for name, a in copied if a in passed],
    )
    support = support_context(app)
    tctx = ticket_context(app, ticket) if ticket is not None else None
    rendered = render_mail(app, template, support, tctx, context, recipient_name)
    out, msg = build_mail(app, letter, rendered, now=now, team_name=support["team_name"])
    _insert(s, envelopes(out | {"author": author}, passed), msg)
    return Queued(out["message_id"])


def _insert(s: Session, outbox: list[dict[str, Any]], message: dict[str, Any] | None) -> None:
    """Core INSERTs on the session's connection: no unit-of-work flush for rows nothing in
    this unit of work changes again (the loop guards count them all the same)."""
    conn = s.connection()
    conn.execute(_INSERT_OUTBOX, outbox)
    if message is not None:
        conn.execute(_INSERT_MESSAGE, message)


def _copied(
    s: Session, ticket: Ticket | None, template: str, to: str, cc: Sequence[tuple[str, str]] | None
) -> list[tuple[str, str]]:
    """Who is copied: a ticket's public mail (`recipients.PARTICIPANT_MAIL`) also goes to
    the ticket's participants in Cc, `cc` as (name, address) when the caller knows them (the
    ingest path just wrote them), else looked up."""
    if ticket is None or template not in PARTICIPANT_MAIL:
        return []
    mailed_now = mailed(s, ticket.number) if cc is None else cc
    return copies(template, to, (ticket.requester.name, ticket.requester.email), mailed_now)


def _passes(
    s: Session,
    app: App,
    template: str,
    to: str,
    now: datetime,
    number: int | None,
    *,
    automatic: bool,
) -> bool:
    """Whether `to` may get this mail; if not, a `notice_suppressed` event says why."""
    why = refused_recipient(app, to, template)
    if why is None and automatic and to not in app.staff_addresses:
        why = blocked(s, app, to, template, now)
    if why:
        s.connection().execute(_INSERT_EVENT, suppressed_event(number, to, template, why, now))
    return why is None


def _references(
    s: Session, number: int | None, given: Sequence[str] | None, in_reply_to: str | None
) -> list[str]:
    """The References of a mail: the caller's, else the ticket's public thread, else the
    mail it answers; always ending with the mail it answers."""
    if given is not None:
        refs = list(given)
    else:
        refs = thread_ids(s, number) if number else ([in_reply_to] if in_reply_to else [])
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    return refs


def envelopes(out: dict[str, Any], recipients: Sequence[str]) -> list[dict[str, Any]]:
    """The outbox rows of one composed mail: one per recipient, so delivery, retries, the
    failure alert and the loop guards' counts stay per address."""
    return [{**out, "to_addr": address} for address in recipients]


def render_mail(
    app: App,
    template: str,
    support: dict[str, Any],
    ticket_ctx: dict[str, Any] | None,
    context: dict[str, Any] | None,
    recipient_name: str,
) -> Rendered:
    """Render a notice: the support facts, the ticket's, then the caller's context."""
    ctx: dict[str, Any] = {"support": support, "recipient_name": recipient_name}
    if ticket_ctx is not None:
        ctx["ticket"] = ticket_ctx
    ctx.update(context or {})
    return app.templates.render(template, **ctx)


def build_mail(
    app: App, letter: Letter, rendered: Rendered, *, now: datetime, team_name: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Compose one rendered mail past its loop guards: its outbox row and, when recorded on
    the ticket, its message row, as column values (no database work here)."""
    message_id = app.new_message_id(letter.number)
    raw = compose(
        from_addr=app.cfg.support.address,
        from_name=team_name,
        to=letter.to,
        to_name=letter.to_name,
        cc=letter.cc,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        loop_address=app.cfg.support.address,
        auto_submitted=letter.auto_submitted if letter.automatic else None,
        in_reply_to=letter.in_reply_to,
        references=letter.references,
        reply_to=letter.reply_to,
        attachments=letter.attachments,
    )
    out = {
        "created_at": now,
        "due_at": now,
        "ticket_number": letter.number,
        "template": letter.template,
        "automatic": letter.automatic,
        "to_addr": letter.to,
        "message_id": message_id,
        "raw": raw,
    }
    if not letter.record:
        return out, None
    return out, _message_row(app, letter, rendered, message_id, now)


def _message_row(
    app: App, letter: Letter, rendered: Rendered, message_id: str, now: datetime
) -> dict[str, Any]:
    """The ticket's record of a mail it sent (public unless an internal note)."""
    return {
        "ticket_number": letter.number,
        "direction": "out",
        "kind": letter.kind,
        "from_addr": app.cfg.support.address,
        "to_addrs": ", ".join([letter.to, *(a for _, a in letter.cc)]),
        "subject": rendered.subject,
        "message_id": message_id,
        "at": now,
        "body": rendered.text,
        "full_text": rendered.text,
        "public": letter.kind != "note",
    }
