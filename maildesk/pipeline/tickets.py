"""Ticket operations shared by the pipeline, agent commands and timers.

States change only through `transition` (which asks domain.lifecycle), SLA dates only
through `recompute_sla` (which asks domain.sla); every change leaves an event row.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from maildesk.domain.lifecycle import State, resolution_values, transition_values
from maildesk.domain.sla import Priority, TicketType, sla_due_at, warning_at
from maildesk.mail.refs import clean_subject
from maildesk.store.models import Agent, Contact, Customer, Event, Product, Resolution, Ticket

if TYPE_CHECKING:
    from maildesk.app import App


def new_ticket(
    s: Session,
    app: App,
    contact: Contact,
    subject: str,
    product: tuple[str | None, str | None],
    now: datetime,
    *,
    follows_up: int | None = None,
    assignee: Agent | None = None,
    last_customer_at: datetime | None = None,
    inherit: Ticket | None = None,
) -> Ticket:
    """A new open ticket with the defaults of P7, its SLA (P8) and, unless given, the
    auto-assigned agent (P7); flushed, so it has its number (and rows may refer to it).

    `inherit`: the closed ticket a P11 follow-up continues; the new one starts with its
    type, priority and classification (SPEC §10), so its SLA and its assignee by skill are
    right from the first minute instead of the defaults'."""
    t = Ticket(
        subject=clean_subject(subject, app.cfg.support.subject_prefix)[:998] or "(no subject)",
        customer=contact.customer,
        requester=contact,
        product=product[0],
        product_version=product[1],
        type=app.cfg.support.default_type,
        priority=app.cfg.support.default_priority,
        unclassified=True,
        state=State.OPEN,
        created_at=now,
        updated_at=now,
        type_set_at=now,
        follows_up=follows_up,
        last_customer_at=last_customer_at,
    )
    if inherit is not None:
        t.type, t.priority, t.unclassified = inherit.type, inherit.priority, inherit.unclassified
    recompute_sla(app, t)
    if assignee is not None:
        _forget_loads(s)  # P7's counts in this unit of work no longer hold
    t.assignee = assignee or pick_assignee(s, t)  # before the INSERT: one statement fewer
    if t.assignee is not None:
        t.assignee.last_assigned_at = now
    s.add(t)
    s.flush()
    return t


def pick_product(customer: Customer, text: str) -> tuple[str | None, str | None]:
    """The affected product (P5): the only one the customer has, or the one the text names."""
    products = customer.products or []
    if len(products) == 1:
        return products[0]["name"], products[0].get("version") or None
    lowered = text.lower()
    named = [p for p in products if p["name"].lower() in lowered]
    if len(named) == 1:
        return named[0]["name"], named[0].get("version") or None
    return None, None


def unsupported_version(s: Session, t: Ticket, now: datetime) -> list[str] | None:
    """P15: the supported versions when the ticket's product version is not one of the two
    latest (the ticket is flagged and the event recorded), else None."""
    if not (t.product and t.product_version):
        return None
    versions = s.connection().scalar(_CATALOGUE, {"name": t.product})
    if versions is None:
        return None
    supported = Product(name=t.product, versions=versions).supported_versions
    if t.product_version in supported:
        return None
    t.unsupported_version = True
    add_event(s, t, now, "unsupported_version", version=t.product_version, supported=supported)
    return supported


_INSERT_EVENT = insert(Event)


def add_event(
    s: Session,
    ticket: Ticket | None,
    now: datetime,
    kind: str,
    actor: str = "system",
    **detail: Any,
) -> None:
    """Record one audit event on `ticket` (which must already be in the database)."""
    insert_event(s, ticket.number if ticket else None, now, kind, actor, detail=detail)


def insert_event(
    s: Session,
    ticket_number: int | None,
    now: datetime,
    kind: str,
    actor: str = "system",
    *,
    detail: dict[str, Any] | None = None,
    contact_id: int | None = None,
) -> None:
    """One Core INSERT on the session's connection: events are write-only for the unit of
    work, so they skip the ORM flush (a fifth of the cost of `s.add` + flush)."""
    s.connection().execute(
        _INSERT_EVENT,
        {
            "ticket_number": ticket_number,
            "contact_id": contact_id,
            "at": now,
            "kind": kind,
            "actor": actor,
            "detail": detail or {},
        },
    )


def recompute_sla(app: App, t: Ticket) -> None:
    """P8: due date by type × priority, on the customer's calendar, counted from where the
    current clock started: the creation, or the last reopening (SPEC §10)."""
    cal = app.calendar_for(t.customer.policy)
    start = t.sla_started_at
    t.sla_due_at = sla_due_at(cal, start, app.cfg.sla_hours, t.type, t.priority)
    t.sla_warn_at = (
        warning_at(cal, start, t.sla_due_at, app.cfg.escalation.warn_at) if t.sla_due_at else None
    )
    t.sla_warned = False
    t.sla_breached = False


def restart_sla(s: Session, app: App, t: Ticket, now: datetime, actor: str) -> None:
    """SPEC §10: a reopening starts a new SLA clock from now with the ticket's current type
    and priority; the old clock's warning and breach can no longer fire (its flags reset
    with it), and its resolution stays in the `resolutions` ledger as it was."""
    t.reopened_at = now
    recompute_sla(app, t)
    due = t.sla_due_at.isoformat() if t.sla_due_at else None
    add_event(s, t, now, "sla_restarted", actor, due_at=due)


_INSERT_RESOLUTION = insert(Resolution)


def transition(
    s: Session,
    t: Ticket,
    target: State,
    now: datetime,
    actor: str,
    reason: str = "",
    *,
    measured: bool = True,
) -> None:
    """Change a ticket's state, or raise IllegalTransition leaving it untouched. A change
    that ends an SLA clock is written to the `resolutions` ledger, unless `measured` is
    False (a merged ticket was not resolved: its request lives on in another ticket)."""
    values, detail = transition_values(t, target, now, reason)
    ended = resolution_values(t, target, now) if measured else None
    _forget_loads(s)  # open-ticket counts (P7) change with the state
    for column, value in values.items():
        setattr(t, column, value)
    add_event(s, t, now, "state", actor, **detail)
    if ended is not None:
        s.connection().execute(_INSERT_RESOLUTION, ended)


_OPEN_TICKETS = (
    select(func.count(Ticket.number))
    .where(Ticket.assignee_id == Agent.id, Ticket.state == State.OPEN)
    .correlate(Agent)
    .scalar_subquery()
)
_AGENT_LOADS = select(Agent, _OPEN_TICKETS).where(Agent.active.is_(True))
_CATALOGUE = select(Product.versions).where(Product.name == bindparam("name"))


def pick_assignee(s: Session, t: Ticket) -> Agent | None:
    """P7: least-loaded agent skilled in the ticket's type (and product, when the agent
    lists products); ties go to whoever was assigned least recently.

    One query per unit of work: each agent with its count of open tickets (partial index
    ix_tickets_open_assignee), kept in `s.info` and counted on as this unit of work opens
    tickets (an IMAP batch opens dozens); any other change of state or assignee in it
    forgets the counts (`_forget_loads`)."""
    loads: dict[int, list[Any]] | None = s.info.get(_LOADS)
    if loads is None:
        loads = s.info[_LOADS] = {a.id: [n, a] for a, n in s.execute(_AGENT_LOADS).all()}
    candidates = [
        (n, a)
        for n, a in loads.values()
        if t.type in a.skills and (not a.products or (t.product and t.product in a.products))
    ]
    if not candidates:
        return None
    epoch = datetime.min.replace(tzinfo=t.created_at.tzinfo)
    chosen: Agent = min(candidates, key=lambda c: (c[0], c[1].last_assigned_at or epoch, c[1].id))[
        1
    ]
    loads[chosen.id][0] += 1  # the ticket being opened
    return chosen


_LOADS = "maildesk.agent_loads"


def _forget_loads(s: Session) -> None:
    s.info.pop(_LOADS, None)


def assign(s: Session, t: Ticket, agent: Agent | None, now: datetime, actor: str) -> None:
    _forget_loads(s)
    previous = t.assignee.email if t.assignee else None
    t.assignee = agent
    t.updated_at = now
    if agent is not None:
        agent.last_assigned_at = now
    add_event(
        s, t, now, "assigned", actor, **{"from": previous, "to": agent.email if agent else None}
    )


def set_type(s: Session, app: App, t: Ticket, type_: TicketType, now: datetime, actor: str) -> bool:
    """P7/P8: an agent classifies the ticket; the SLA follows the new type. True if changed.

    `type_set_at` restarts only on a real change: T3 counts the committee's days from it."""
    t.unclassified = False
    if t.type == type_:
        return False
    previous = t.type
    t.type = type_
    t.type_set_at = now
    t.updated_at = now
    if type_ is TicketType.FEATURE_REQUEST:
        t.feature_reminders_sent = 0
    recompute_sla(app, t)
    add_event(s, t, now, "type", actor, **{"from": previous, "to": type_})
    return True


def set_priority(
    s: Session, app: App, t: Ticket, priority: Priority, now: datetime, actor: str
) -> bool:
    """P7/P8: priority set by an agent; the SLA is recomputed from created_at. True if changed."""
    t.unclassified = False
    if t.priority == priority:
        return False
    previous = t.priority
    t.priority = priority
    t.updated_at = now
    recompute_sla(app, t)
    add_event(s, t, now, "priority", actor, **{"from": previous, "to": priority})
    return True


def set_product(
    s: Session,
    t: Ticket,
    chosen: tuple[str, str | None],
    supported: list[str],
    now: datetime,
    actor: str,
) -> bool:
    """P5/P15: the affected (product, version); returns True when the version is newly
    unsupported."""
    name, version = chosen
    was_flagged = t.unsupported_version and t.product_version == version
    previous = {"product": t.product, "version": t.product_version}
    t.product = name
    t.product_version = version
    t.unsupported_version = bool(version) and version not in supported
    t.updated_at = now
    add_event(
        s,
        t,
        now,
        "product",
        actor,
        **{"from": previous, "to": {"product": name, "version": version}},
    )
    if t.unsupported_version:
        add_event(s, t, now, "unsupported_version", actor, version=version, supported=supported)
    return t.unsupported_version and not was_flagged
