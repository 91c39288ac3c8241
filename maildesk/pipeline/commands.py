"""Apply an agent mail's `#` commands to a ticket (SPEC §4; P7, P8, P13, P15).

All or nothing per mail: `check` first walks the commands in order over a *simulated* state
and type (so `#type nuevo_requerimiento` then `#viable yes` passes, `#close` then `#resolve`
does not) and only when it finds no error does `apply` change anything. `apply` therefore
cannot fail half-way, and no savepoint is needed.

Mail to the customer caused by a command (resolved, closed, ...) is returned as deferred
sends: the caller relays the agent's answer first, so the customer reads the answer before
"your ticket is resolved", and the `closed` transcript includes that answer.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.domain.commands import Command
from maildesk.domain.lifecycle import State, check_transition
from maildesk.domain.sla import Priority, TicketType
from maildesk.errors import IllegalTransition
from maildesk.outbound.transcript import transcript_text
from maildesk.pipeline import fetch
from maildesk.pipeline.tell import Files, Send, customer_notice, forward_to_committee
from maildesk.pipeline.tickets import (
    add_event,
    assign,
    set_priority,
    set_product,
    set_type,
    transition,
)
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Agent, Product, Ticket

if TYPE_CHECKING:
    from maildesk.app import App

FEATURE = TicketType.FEATURE_REQUEST


@dataclass
class Applied:
    """What applying a mail's commands did, for the caller's follow-up steps."""

    sends: list[Send] = field(default_factory=list)  # customer notices, sent after the relay
    type_changed: bool = False
    assigned: bool = False


def find_agent(s: Session, who: str) -> tuple[Agent | None, str]:
    """`#assign` target by address or name, case-insensitive; ("", reason) when not one."""
    key = who.strip().strip("<>").casefold()
    agents = list(s.scalars(select(Agent).where(Agent.active.is_(True))))
    by_mail = [a for a in agents if a.email.casefold() == key]
    if by_mail:
        return by_mail[0], ""
    by_name = [a for a in agents if a.name.casefold() == key]
    if len(by_name) == 1:
        return by_name[0], ""
    if len(by_name) > 1:
        return None, f"more than one agent is called {who!r}; use the address"
    return None, f"no active agent with address or name {who!r}"


def find_product(s: Session, name: str) -> Product | None:
    """Catalogue lookup, case-insensitive (agents type names as they say them)."""
    return s.scalar(select(Product).where(func.lower(Product.name) == name.casefold()))


def _check_one(
    s: Session, number: int | None, c: Command, state: State, type_: str
) -> tuple[str, State, str]:
    """One command against the simulated (state, type); returns (error, state, type)."""
    if c.name == "attachments":  # reads only: a closed ticket's files can still be asked for
        return fetch.check(s, number, c.args[0] if c.args else ""), state, type_
    if state is State.CLOSED and c.name != "note":
        return "the ticket is closed (P11): nothing can change on it", state, type_
    if c.name == "type":
        return "", state, c.args[0]
    if c.name == "assign":
        return find_agent(s, c.args[0])[1], state, type_
    if c.name == "product":
        product = find_product(s, c.args[0])
        if product is None:
            return f"unknown product {c.args[0]!r} (not in the catalogue)", state, type_
        if len(c.args) > 1 and c.args[1] not in product.versions:
            known = ", ".join(product.versions)
            return f"{product.name} has no version {c.args[1]} (known: {known})", state, type_
        return "", state, type_
    target = _TARGETS.get(c.name)
    if target:
        try:
            check_transition(state, target)
        except IllegalTransition as exc:
            return str(exc), state, type_
        return "", target, type_
    if c.name == "viable" and type_ != FEATURE:
        return f"#viable applies only to {FEATURE} tickets (this one is {type_})", state, type_
    if c.name == "new":
        return "#new opens a new ticket: send it in a new mail, not in a reply", state, type_
    return "", state, type_


_TARGETS = {"resolve": State.RESOLVED, "out_of_scope": State.RESOLVED, "close": State.CLOSED}


def check(
    s: Session, state: State, type_: str, commands: Sequence[Command], *, ticket: int | None
) -> list[str]:
    """Every problem the commands would hit on ticket `ticket` (None: one not opened yet),
    in order; empty means `apply` will succeed."""
    errors = []
    for c in commands:
        error, state, type_ = _check_one(s, ticket, c, state, type_)
        if error:
            errors.append(f'"{c.line}": {error}')
    return errors


def _transcript(s: Session, app: App, t: Ticket) -> Files:
    text = transcript_text(s, app, t)
    return [(f"ticket-{t.number}.txt", "text/plain", text.encode("utf-8"))]


def _apply_one(u: Unit, t: Ticket, c: Command, actor: str, out: Applied) -> None:
    s, app, now = u.s, u.app, u.now
    if c.name == "type":
        if set_type(s, app, t, TicketType(c.args[0]), now, actor):
            out.type_changed = True
            told = forward_to_committee(s, app, t, now) if t.type is FEATURE else None
            if told is not None:
                out.sends.append(told)
    elif c.name == "priority":
        set_priority(s, app, t, Priority(c.args[0]), now, actor)
    elif c.name == "assign":
        agent, _ = find_agent(s, c.args[0])
        if agent is not None and agent is not t.assignee:
            assign(s, t, agent, now, actor)
        out.assigned = True
    elif c.name == "product":
        _apply_product(u, t, c, actor, out)
    elif c.name == "resolve":
        reason = c.args[0] if c.args else ""
        transition(s, t, State.RESOLVED, now, actor, reason)
        days = app.cfg.timers.resolved_to_closed_business_days
        out.sends.append(
            customer_notice(
                s, app, t, "resolved", now, author=actor, reason=reason, window_days=days
            )
        )
    elif c.name == "close":
        transition(s, t, State.CLOSED, now, actor, "closed by agent")
        files = partial(_transcript, s, app, t)  # read when sent: after the relayed answer
        out.sends.append(customer_notice(s, app, t, "closed", now, attach=files, author=actor))
    elif c.name == "out_of_scope":
        reason = c.args[0]
        consulting = app.cfg.support.consulting
        out.sends.append(
            customer_notice(
                s, app, t, "out_of_scope", now, author=actor, reason=reason, consulting=consulting
            )
        )
        transition(s, t, State.RESOLVED, now, actor, f"out of scope: {reason}"[:200])
        add_event(s, t, now, "out_of_scope", actor, reason=reason)
    elif c.name == "viable":
        decision, reason = c.args[0], (c.args[1] if len(c.args) > 1 else "")
        t.viable = decision
        t.updated_at = now
        add_event(s, t, now, "feature_decision", actor, viable=decision, reason=reason)
        out.sends.append(
            customer_notice(
                s,
                app,
                t,
                "feature_decision",
                now,
                author=actor,
                viable=decision == "yes",
                reason=reason,
            )
        )
    elif c.name == "attachments":  # to the agent who asked, after the relay like the rest
        out.sends.append(partial(fetch.send, u, t, actor, c.args[0] if c.args else ""))


def _apply_product(u: Unit, t: Ticket, c: Command, actor: str, out: Applied) -> None:
    s, app, now = u.s, u.app, u.now
    product = find_product(s, c.args[0])
    assert product is not None  # check() guarantees it
    version = c.args[1] if len(c.args) > 1 else None
    if version is None:  # the version the customer runs, when the registry knows it
        owned = [p for p in t.customer.products or [] if p["name"] == product.name]
        version = (owned[0].get("version") or None) if owned else None
    supported = product.supported_versions
    if set_product(s, t, (product.name, version), supported, now, actor):
        out.sends.append(
            customer_notice(
                s, app, t, "unsupported_version", now, version=version, supported_versions=supported
            )
        )


def apply(u: Unit, t: Ticket, commands: Sequence[Command], actor: str) -> Applied:
    """Apply checked commands in order; customer notices come back unsent in `sends`."""
    out = Applied()
    for c in commands:
        _apply_one(u, t, c, actor, out)
    if commands:
        add_event(u.s, t, u.now, "agent_commands", actor, commands=[c.line for c in commands])
    return out
