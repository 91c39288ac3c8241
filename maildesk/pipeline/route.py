"""Inbound routing R1–R9 as an ordered chain of small rules (SPEC §3).

Pure: a function of the parsed mail, its classification and facts looked up before;
it returns a Decision and writes nothing. Read the CHAIN at the bottom top-down.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from maildesk.domain.lifecycle import State
from maildesk.mail.classify import Classification, MailKind
from maildesk.mail.inbound import Inbound
from maildesk.mail.quotes import is_confirmation
from maildesk.pipeline.outcome import Refusal


class Action(StrEnum):
    DUPLICATE = "duplicate"  # R1
    BOUNCE_ON_TICKET = "bounce_on_ticket"  # R2
    AUTO_ON_TICKET = "auto_on_ticket"  # R3: recorded for threading, never answered
    IGNORE = "ignore"  # R2/R3 without a ticket
    AGENT_MAIL = "agent_mail"  # R4
    COMMITTEE_MAIL = "committee_mail"  # R4: the feature committee's decision (P13, SPEC §10)
    REJECT = "reject"  # R5, R6, size limit
    FOLLOW_UP = "follow_up"  # R7 on an open ticket
    REOPEN = "reopen"  # R7 on a resolved ticket (P10)
    CONFIRM = "confirm"  # R7 thank-you on a resolved ticket: stays resolved
    NEW_TICKET = "new_ticket"  # R8, R9, P11


class SenderKind(StrEnum):
    CONTACT = "contact"  # an active contact of an active customer
    AGENT = "agent"  # a registered agent (R4 before R5: even if also a contact)
    COMMITTEE = "committee"  # the feature committee's address, or a member who is no agent
    STAFF = "staff"  # supervisors, our own address: not agents, not strangers
    UNKNOWN = "unknown"  # anyone else (R5)


class Via(StrEnum):
    """How a mail named its ticket (R7's reference order)."""

    REFERENCES = "references"  # In-Reply-To/References: one of our ids, or a stored one
    PLUS_ADDRESS = "plus_address"  # support+N@
    SUBJECT = "subject"  # the [PREFIX #N] tag
    # R2, a bounce: the outbox row it is about, by its signed return path or a quoted id
    RETURN_PATH = "return_path"
    MESSAGE_ID = "message_id"


@dataclass(frozen=True)
class SenderFacts:
    kind: SenderKind
    email: str
    contact_id: int | None = None
    customer_id: str | None = None
    support_until: date | None = None
    agent_id: int | None = None


@dataclass(frozen=True)
class TicketRef:
    number: int
    customer_id: str
    state: State
    via: Via


@dataclass(frozen=True)
class BouncedRow:
    """R2: the outbox row a bounce is about, and how we know (its return path, signed, or a
    Message-ID the report quotes)."""

    id: int
    to_addr: str
    ticket_number: int | None
    via: Via  # RETURN_PATH or MESSAGE_ID


@dataclass(frozen=True)
class Facts:
    duplicate: bool
    sender: SenderFacts
    ticket: TicketRef | None  # the ticket the mail refers to, if any
    bounced_ticket: TicketRef | None  # R2: the ticket of the mail that bounced
    today: date  # in the support timezone, for P1
    too_large: bool = False
    bounced_row: BouncedRow | None = None  # R2: the outbox row that bounced


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str
    reason: str = ""
    ticket: int | None = None
    notice: str | None = None  # template of the automatic answer, if any
    follows_up: int | None = None  # P11: the closed ticket a new one continues


Rule = Callable[[Inbound, Classification, Facts], Decision | None]


def already_seen(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """R1: already processed (same Message-ID, or same bytes when it has none)."""
    if f.duplicate:
        return Decision(Action.DUPLICATE, "R1", "duplicate")
    return None


def bounce(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """R2: bounces attach to the ticket of the mail that bounced; never answered. One to a
    return path of ours that names no row we sent was not written by any MTA we mailed."""
    if cls.kind is not MailKind.BOUNCE:
        return None
    if f.bounced_ticket is not None:
        return Decision(Action.BOUNCE_ON_TICKET, "R2", "bounce", ticket=f.bounced_ticket.number)
    if f.bounced_row is not None:  # a row without a ticket: its recipient may still be a contact
        return Decision(Action.BOUNCE_ON_TICKET, "R2", "bounce")
    if cls.to_return_path:
        return Decision(Action.IGNORE, "R2", "bounce to a return path we never used")
    return Decision(Action.IGNORE, "R2", "bounce")


def automatic_mail(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """R3: automatic mail is recorded on its ticket for threading, never answered or
    ticketed."""
    if cls.kind is not MailKind.AUTO:
        return None
    reason = f"automatic: {cls.reason}" if cls.reason else "automatic"
    t = f.ticket
    if (
        t is not None
        and f.sender.kind is SenderKind.CONTACT
        and t.customer_id == f.sender.customer_id
    ):
        return Decision(Action.AUTO_ON_TICKET, "R3", reason, ticket=t.number)
    return Decision(Action.IGNORE, "R3", reason)


def from_an_agent(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """R4: registered agents reply and run commands (§4); the feature committee's address and
    members who are not agents record their decision (`#viable`, SPEC §10)."""
    number = f.ticket.number if f.ticket else None
    if f.sender.kind is SenderKind.AGENT:
        return Decision(Action.AGENT_MAIL, "R4", ticket=number)
    if f.sender.kind is SenderKind.COMMITTEE:
        return Decision(Action.COMMITTEE_MAIL, "R4", "committee", ticket=number)
    return None


def unregistered_sender(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """R5 (P3): only registered contacts open tickets; the rest are refused with a notice. Staff
    who are not agents are not strangers: their mail is kept, never answered (SPEC §10)."""
    if f.sender.kind is SenderKind.STAFF:
        return Decision(Action.IGNORE, "R5", "staff address, not an agent")
    if f.sender.kind is SenderKind.UNKNOWN:
        return Decision(Action.REJECT, "R5", Refusal.UNREGISTERED, notice="rejected_unregistered")
    return None


def contract_ended(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """R6 (P1): a customer whose contract has ended gets no ticket."""
    until = f.sender.support_until
    if until is not None and until < f.today:
        return Decision(Action.REJECT, "R6", Refusal.CONTRACT_EXPIRED, notice="contract_expired")
    return None


def too_large(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """size: a message over limits.max_message_bytes is not ticketed (§3)."""
    if f.too_large:
        return Decision(Action.REJECT, "size", Refusal.TOO_LARGE, notice="too_large")
    return None


def reply_on_own_ticket(msg: Inbound, cls: Classification, f: Facts) -> Decision | None:
    """R7: a reply on one of the sender's own customer's tickets: a follow-up when open,
    reopening when resolved (P10) unless it only says thanks, a new ticket when closed (P11)."""
    t = f.ticket
    if t is None or t.customer_id != f.sender.customer_id:
        return None
    if t.state is State.OPEN:
        return Decision(Action.FOLLOW_UP, "R7", f"reply via {t.via}", ticket=t.number)
    if t.state is State.RESOLVED:
        if is_confirmation(msg.new_content):
            return Decision(Action.CONFIRM, "R7", "customer confirmed", ticket=t.number)
        return Decision(Action.REOPEN, "P10", f"reply via {t.via}", ticket=t.number)
    return Decision(
        Action.NEW_TICKET,
        "P11",
        "reply to a closed ticket",
        notice="followup_new_ticket",
        follows_up=t.number,
    )


def new_topic(msg: Inbound, cls: Classification, f: Facts) -> Decision:
    """R8 (another customer's ticket: a new topic, nothing revealed) and R9: what no rule of
    the chain claimed opens a ticket."""
    if f.ticket is not None:
        return Decision(
            Action.NEW_TICKET, "R8", "refers to another customer's ticket", notice="acknowledgement"
        )
    return Decision(Action.NEW_TICKET, "R9", "new topic", notice="acknowledgement")


#: Tried top-down by `route`: the first rule that decides wins. The ids' order, except
#: where a comment says why not.
CHAIN: tuple[Rule, ...] = (
    already_seen,  # R1 first: a mail offered again changes nothing, whatever it is
    bounce,  # R2 before R3: a bounce is automatic mail too, but it belongs to a sent mail
    automatic_mail,  # R3 before the sender's rules: a robot is never answered
    # R5 before the size limit: a stranger's mail, however big, gets only the unregistered
    # notice. R5 decides only for strangers and staff who are not agents, so agents and
    # the committee pass it untouched and meet R4 below.
    unregistered_sender,
    # The size limit before R4: an agent's oversized mail is refused like a customer's.
    too_large,
    from_an_agent,  # R4 before R6: an agent is never a customer, whatever contract
    contract_ended,  # R6
    reply_on_own_ticket,  # R7 (P10, P11); then new_topic: R8, R9
)


def route(msg: Inbound, cls: Classification, facts: Facts) -> Decision:
    """The first rule of the chain that decides wins; otherwise a new ticket."""
    for rule in CHAIN:
        decision = rule(msg, cls, facts)
        if decision is not None:
            return decision
    return new_topic(msg, cls, facts)
