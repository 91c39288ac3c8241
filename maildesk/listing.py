"""Read model for `tickets list`: the tickets matching an operator's filters, as rows.

One SELECT with the requester's and assignee's addresses joined in (no ORM objects: a
list of a hundred thousand tickets must not build two hundred thousand of them). Search
goes through the database's own full-text index (`store.search`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import aliased

from maildesk.domain.lifecycle import State
from maildesk.store.models import Agent, Contact, Message, Ticket
from maildesk.store.search import matching_tickets

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from maildesk.app import App

#: `--assignee none`: the tickets nobody has been assigned yet.
UNASSIGNED = "none"

COLUMNS = (
    "number",
    "subject",
    "state",
    "type",
    "priority",
    "unclassified",
    "customer",
    "requester",
    "assignee",
    "created_at",
    "sla_due_at",
)


@dataclass(frozen=True)
class TicketFilter:
    """What `tickets list` asks for; every field left None matches every ticket.
    `since` and `until` bound the creation time (`until` exclusive)."""

    state: State | None = None
    customer: str | None = None
    contact: str | None = None
    assignee: str | None = None
    type: str | None = None
    priority: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None


def _conditions(s: Session, f: TicketFilter, agent: Any) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    exact = (
        (Ticket.state, f.state and f.state.value),
        (Ticket.customer_id, f.customer),
        (Ticket.type, f.type),
        (Ticket.priority, f.priority),
    )
    where += [column == value for column, value in exact if value is not None]
    if f.contact:
        addr = f.contact.strip().lower()
        wrote = exists().where(
            Message.ticket_number == Ticket.number, func.lower(Message.from_addr) == addr
        )
        where.append(or_(func.lower(Contact.email) == addr, wrote))
    if f.assignee:
        who = f.assignee.strip().lower()
        if who == UNASSIGNED:
            where.append(Ticket.assignee_id.is_(None))
        else:
            where.append(or_(func.lower(agent.email) == who, func.lower(agent.name) == who))
    if f.since:
        where.append(Ticket.created_at >= f.since)
    if f.until:
        where.append(Ticket.created_at < f.until)
    if f.search is not None:
        where.append(Ticket.number.in_(matching_tickets(s, f.search)))
    return where


def _query(s: Session, f: TicketFilter) -> Select:
    agent = aliased(Agent)
    return (
        select(
            Ticket.number,
            Ticket.subject,
            Ticket.state,
            Ticket.type,
            Ticket.priority,
            Ticket.unclassified,
            Ticket.customer_id,
            Contact.email,
            agent.email,
            Ticket.created_at,
            Ticket.sla_due_at,
        )
        .join(Contact, Ticket.requester_id == Contact.id)
        .outerjoin(agent, Ticket.assignee_id == agent.id)
        .where(*_conditions(s, f, agent))
        .order_by(Ticket.number)
    )


def ticket_list(app: App, f: TicketFilter) -> list[dict[str, Any]]:
    """Matching tickets, oldest number first, with aware UTC datetimes (callers format)."""
    with app.db.transaction() as s:
        return [dict(zip(COLUMNS, row, strict=True)) for row in s.execute(_query(s, f))]
