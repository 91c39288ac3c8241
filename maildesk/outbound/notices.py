"""Queue outgoing mail in the outbox, in the caller's transaction (transactional outbox).

Every automatic mail passes the loop guards here: bounce suppression (R2), the per-sender
notice rate (R5) and the per-recipient daily cap, so no rule elsewhere re-implements them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from maildesk.outbound.compose import compose
from maildesk.outbound.recipients import PARTICIPANT_MAIL, copies, refused_recipient
from maildesk.outbound.templates import Rendered
from maildesk.store.models import Contact, Event, Message, Outbox, Ticket
from maildesk.store.participants import mailed

if TYPE_CHECKING:
    from maildesk.app import App

# Notices answering mail that opened no ticket: the ones an attacker could use to make us
# spam a forged sender, so they get the tight hourly limit (R5).
REJECTION_NOTICES = frozenset({"rejected_unregistered", "contract_expired", "too_large"})


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


_DAY, _HOUR = bindparam("day_ago"), bindparam("hour_ago")
_RECENT = (Outbox.to_addr == bindparam("to"), Outbox.created_at > _DAY)
# Built once: constructing this statement cost more than running it.
_GUARD = select(
    select(Contact.suppressed_until).where(Contact.email == bindparam("to")).scalar_subquery(),
    select(func.count(Outbox.id)).where(*_RECENT, Outbox.automatic.is_(True)).scalar_subquery(),
    select(func.count(Outbox.id))
    .where(*_RECENT, Outbox.template.in_(REJECTION_NOTICES), Outbox.created_at > _HOUR)
    .scalar_subquery(),
)
_INSERT_OUTBOX = insert(Outbox)
_INSERT_MESSAGE = insert(Message)
_INSERT_EVENT = insert(Event)


def guard_windows(now: datetime) -> tuple[datetime, datetime]:
    """Since when the loop guards count: the daily cap a day back, the rejection-notice
    rate (R5) an hour back. One definition for the one-mail and the bulk paths."""
    return now - timedelta(days=1), now - timedelta(hours=1)


def _blocked(s: Session, app: App, to: str, template: str, now: datetime) -> str | None:
    """Why an automatic mail to `to` must not go out now, or None (one round trip; through
    the session, so a suppression still pending in the unit of work counts)."""
    day_ago, hour_ago = guard_windows(now)
    params = {"to": to, "day_ago": day_ago, "hour_ago": hour_ago}
    suppressed, day, hour = s.execute(_GUARD, params).one()
    return guard_reason(app, template, now, Guard(suppressed, day, hour))


@dataclass
class Guard:
    """What the loop guards know of one recipient: bounce suppression, automatic mails in
    the last day, rejection notices in the last hour (counts include mail queued since)."""

    suppressed_until: datetime | None = None
    day: int = 0
    hour: int = 0

    def count(self, template: str) -> None:
        """One more automatic mail queued to this recipient."""
        self.day += 1
        if template in REJECTION_NOTICES:
            self.hour += 1


def guard_reason(app: App, template: str, now: datetime, g: Guard) -> str | None:
    """The loop rules (R2, R5, daily cap), one place for the one-mail and the bulk paths."""
    limits = app.cfg.limits
    if g.suppressed_until is not None and g.suppressed_until > now:
        return "recipient suppressed after a permanent bounce"
    if g.day >= limits.auto_mails_per_recipient_per_day:
        return "daily cap of automatic mail to this address reached"
    if template in REJECTION_NOTICES and g.hour >= limits.notices_per_sender_per_hour:
        return "notice rate limit for this sender reached"
    return None


def suppressed_detail(template: str, to: str, why: str) -> dict[str, Any]:
    """The `notice_suppressed` event's detail: which mail a loop guard stopped, and why."""
    return {"template": template, "to": to, "reason": why}


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

    A ticket's public mail (`recipients.PARTICIPANT_MAIL`) also goes to the ticket's
    participants in Cc: `cc` as (name, address) when the caller knows them (the ingest path
    just wrote them), else looked up. The loop guards hold per address: one outbox row per
    recipient who passes them, all with the same bytes and Message-ID; the headers name
    the requester and the participants who pass."""
    to = to.lower()
    copied = _copied(s, ticket, template, to, cc)
    number = ticket.number if ticket else None
    passed = [
        address
        for address in [to, *(a for _, a in copied)]
        if _stopped(s, app, template, address, now, number, automatic=automatic) is None
    ]
    if not passed:
        return None
    if references is not None:
        refs = list(references)
    else:
        refs = thread_ids(s, number) if number else ([in_reply_to] if in_reply_to else [])
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    support = support_context(app)
    tctx = ticket_context(app, ticket) if ticket is not None else None
    out, msg = build_mail(
        app,
        rendered=render_mail(app, template, support, tctx, context, recipient_name),
        template=template,
        to=to,
        now=now,
        number=number,
        team_name=support["team_name"],
        automatic=automatic,
        auto_submitted=auto_submitted,
        in_reply_to=in_reply_to or (refs[-1] if refs else None),
        references=refs,
        reply_to=reply_to,
        kind=kind,
        attachments=attachments,
        record=record,
        to_name=recipient_name,
        cc=[(name, a) for name, a in copied if a in passed],
    )
    # Core INSERTs on the session's connection: no unit-of-work flush for rows nothing in
    # this unit of work changes again (the loop guard above counts them all the same).
    conn = s.connection()
    conn.execute(_INSERT_OUTBOX, envelopes(out | {"author": author}, passed))
    if msg is not None:
        conn.execute(_INSERT_MESSAGE, msg)
    return Queued(out["message_id"])


def _copied(
    s: Session, ticket: Ticket | None, template: str, to: str, cc: Sequence[tuple[str, str]] | None
) -> list[tuple[str, str]]:
    if ticket is None or template not in PARTICIPANT_MAIL:
        return []
    mailed_now = mailed(s, ticket.number) if cc is None else cc
    return copies(template, to, (ticket.requester.name, ticket.requester.email), mailed_now)


def _stopped(
    s: Session,
    app: App,
    template: str,
    to: str,
    now: datetime,
    number: int | None,
    *,
    automatic: bool,
) -> str | None:
    """Why `to` must not get this mail (recorded as a `notice_suppressed` event), or None."""
    why = refused_recipient(app, to, template)
    if why is None and automatic and to not in app.staff_addresses:
        why = _blocked(s, app, to, template, now)
    if why:
        event = {
            "ticket_number": number,
            "contact_id": None,
            "at": now,
            "kind": "notice_suppressed",
            "actor": "system",
            "detail": suppressed_detail(template, to, why),
        }
        s.connection().execute(_INSERT_EVENT, event)
    return why


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
    app: App,
    *,
    rendered: Rendered,
    template: str,
    to: str,
    now: datetime,
    number: int | None,
    team_name: str,
    automatic: bool,
    auto_submitted: str,
    in_reply_to: str | None,
    references: Sequence[str],
    reply_to: str | None,
    kind: str,
    attachments: Sequence[tuple[str, str, bytes]],
    record: bool,
    to_name: str = "",
    cc: Sequence[tuple[str, str]] = (),
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Compose one rendered mail past its loop guards: its outbox row and, when recorded on
    the ticket, its message row, as column values (no database work here)."""
    message_id = app.new_message_id(number)
    raw = compose(
        from_addr=app.cfg.support.address,
        from_name=team_name,
        to=to,
        to_name=to_name,
        cc=cc,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
        date=now,
        loop_address=app.cfg.support.address,
        auto_submitted=auto_submitted if automatic else None,
        in_reply_to=in_reply_to,
        references=references,
        reply_to=reply_to,
        attachments=attachments,
    )
    out = {
        "created_at": now,
        "due_at": now,
        "ticket_number": number,
        "template": template,
        "automatic": automatic,
        "to_addr": to,
        "message_id": message_id,
        "raw": raw,
    }
    if not record:
        return out, None
    msg = {
        "ticket_number": number,
        "direction": "out",
        "kind": kind,
        "from_addr": app.cfg.support.address,
        "to_addrs": ", ".join([to, *(a for _, a in cc)]),
        "subject": rendered.subject,
        "message_id": message_id,
        "at": now,
        "body": rendered.text,
        "full_text": rendered.text,
        "public": kind != "note",
    }
    return out, msg
