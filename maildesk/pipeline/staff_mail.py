"""What every mail from people who may command a ticket goes through, agents and the feature
committee alike (SPEC §4, §10): the authentication rule, the refusal of an unauthenticated
mail, the error mail when commands are refused.

Shared by the agent and the committee handlers, so it sits below both (handlers never import
one another). A refused mail applies nothing and relays nothing; the person learns why at
their registered address, whatever Reply-To the mail carried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from maildesk.mail.authres import AuthVerdict, authenticate_agent_mail
from maildesk.mail.inbound import Inbound
from maildesk.outbound.notices import queue_mail
from maildesk.pipeline.outcome import Kind, Outcome, Refusal
from maildesk.pipeline.records import store_message
from maildesk.pipeline.tickets import add_event
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Outbox, Ticket

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.pipeline")


@dataclass(frozen=True)
class Person:
    """Who wrote a staff mail: their registered address and the name mail greets them by."""

    email: str
    name: str = ""


def authenticate(app: App, msg: Inbound) -> AuthVerdict:
    """§4: believe Authentication-Results only from our trusted servers (when required)."""
    if not app.cfg.require_authenticated_agents:
        return AuthVerdict(True, "sender authentication not required")
    sec = app.cfg.security
    return authenticate_agent_mail(msg, sec.trusted_authserv_ids, internal_hops=sec.internal_hops)


def record_ignored(u: Unit, ticket: Ticket | None, verdict: AuthVerdict) -> None:
    """§10: headers claiming a trusted server where none could have written them: a forgery
    attempt (or a misdeployed MTA), kept as an event and a warning, never believed."""
    msg = u.msg
    log.warning(
        "staff mail %s from %s: ignored Authentication-Results claiming %s",
        msg.message_id,
        msg.from_addr,
        ", ".join(verdict.ignored),
    )
    add_event(
        u.s,
        ticket,
        u.now,
        "authentication_results_ignored",
        msg.from_addr,
        authserv_ids=list(verdict.ignored),
        message_id=msg.message_id,
    )


def refuse_unauthenticated(
    u: Unit, person: Person, ticket: Ticket | None, verdict: AuthVerdict
) -> Outcome:
    """Nothing is stored on the ticket (a forger must not write even internal notes); the
    raw mail stays in the ledger, the person is told at their registered address."""
    msg = u.msg
    add_event(
        u.s,
        ticket,
        u.now,
        "agent_unauthenticated",
        person.email,
        reason=verdict.reason,
        message_id=msg.message_id,
    )
    queue_mail(
        u.s,
        u.app,
        template="agent_unauthenticated",
        to=person.email,  # the registered address, whatever Reply-To the forger set
        now=u.now,
        ticket=ticket,
        in_reply_to=msg.message_id,
        recipient_name=person.name,
        record=False,
        context={"original_subject": msg.subject, "reason": verdict.reason},
    )
    return Outcome(
        Kind.REJECTED,
        f"{Refusal.UNAUTHENTICATED}: {verdict.reason}",
        ticket.number if ticket else None,
        refusal=Refusal.UNAUTHENTICATED,
    )


def reject_commands(
    u: Unit, person: Person, ticket: Ticket | None, errors: list[str], *, no_ticket: str = ""
) -> Outcome:
    """Nothing applied, nothing relayed; the person learns why, the mail is kept as a note.
    `no_ticket`: the reason recorded when the only error is that the mail names no ticket."""
    msg = u.msg
    if ticket is not None:
        store_message(u, ticket, "note", public=False)
    add_event(
        u.s,
        ticket,
        u.now,
        "agent_command_rejected",
        person.email,
        errors=errors,
        message_id=msg.message_id,
    )
    queue_mail(
        u.s,
        u.app,
        template="agent_command_error",
        to=person.email,
        now=u.now,
        ticket=ticket,
        in_reply_to=msg.message_id,
        recipient_name=person.name,
        record=False,  # never part of the customer's history
        context={"original_subject": msg.subject, "errors": errors},
    )
    reason = f"agent commands rejected ({len(errors)} error(s))"
    if ticket is None:
        return Outcome(Kind.IGNORED, no_ticket or reason)
    return Outcome(Kind.FOLLOWED_UP, reason, ticket.number)


_QUEUED_NOW = select(Outbox.template, Outbox.to_addr).where(
    Outbox.ticket_number == bindparam("number"), Outbox.created_at == bindparam("now")
)


def confirm_applied(
    u: Unit, person: Person, ticket: Ticket, lines: list[str], *, note: bool = False
) -> None:
    """Issue 8 item 5: commands applied (or a note stored) and nothing relayed: the person
    learns what changed and what the customer was sent because of it, in one short mail
    (`[support] confirm_commands`, on by default)."""
    if not u.app.cfg.support.confirm_commands:
        return
    rows = u.s.execute(_QUEUED_NOW, {"number": ticket.number, "now": u.now}).all()
    told = sorted({t for t, to in rows if not u.app.is_staff(to)})
    queue_mail(
        u.s,
        u.app,
        template="commands_applied",
        to=person.email,
        now=u.now,
        ticket=ticket,
        in_reply_to=u.msg.message_id,
        recipient_name=person.name,
        record=False,  # internal: never part of the customer's history
        context={
            "original_subject": u.msg.subject,
            "commands": lines,
            "note": note,
            "customer_told": told,
        },
    )
