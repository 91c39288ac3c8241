"""Ticket states and legal transitions (P6, P10, P11, P12): the only place states change.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from maildesk.errors import IllegalTransition


class State(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


# (from, to) pairs the policy allows. closed is final (P11).
_LEGAL: frozenset[tuple[State, State]] = frozenset(
    {
        (State.OPEN, State.RESOLVED),  # agent #resolve, #out-of-scope, T2 abandoned
        (State.OPEN, State.CLOSED),  # agent #close
        (State.RESOLVED, State.OPEN),  # customer reply within the window (P10)
        (State.RESOLVED, State.CLOSED),  # T1 after the window, or agent #close
    }
)


def check_transition(current: str, target: str) -> tuple[State, State]:
    """Validate a transition; raises IllegalTransition (nothing is changed by the caller)."""
    try:
        src, dst = State(current), State(target)
    except ValueError as exc:
        raise IllegalTransition(str(exc)) from None
    if (src, dst) not in _LEGAL:
        if src is State.CLOSED:
            raise IllegalTransition("a closed ticket can never be reopened or changed (P11)")
        raise IllegalTransition(f"cannot go from {src} to {dst}")
    return src, dst


def can_transition(current: str, target: str) -> bool:
    try:
        check_transition(current, target)
    except IllegalTransition:
        return False
    return True


def transition_values(
    row: Any, target: str, now: datetime, reason: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ticket columns a change of state sets (from `row`'s state, resolved_at and
    resolution_reason), and the detail of its `state` event; raises IllegalTransition.
    One rule for the one-ticket path (an ORM ticket) and the timers' bulk path (a row)."""
    src, dst = check_transition(row.state, target)
    values: dict[str, Any] = {"state": dst, "updated_at": now}
    if dst is State.RESOLVED:
        values.update(resolved_at=now, resolution_reason=reason or None)
    elif dst is State.CLOSED:
        values["closed_at"] = now
        if src is State.OPEN:
            values["resolved_at"] = row.resolved_at or now
        values["resolution_reason"] = row.resolution_reason or reason or None
    else:
        values.update(resolved_at=None, resolution_reason=None)
    return values, {"from": src.value, "to": dst.value, "reason": reason}


def resolution_values(row: Any, target: str, now: datetime) -> dict[str, Any] | None:
    """The ledger row (`resolutions`) of a change of state that ends an SLA clock, or None.

    A clock ends when an open ticket is resolved, or closed without being resolved first
    (`#close`); it ran from the creation or from the last reopening (SPEC §10), against the
    due time and the type × priority the ticket had then. One rule for the one-ticket path
    and the timers' bulk path (T2 resolves in bulk). Raises IllegalTransition as
    `transition_values` does."""
    src, _ = check_transition(row.state, target)
    if src is not State.OPEN:
        return None
    return {
        "ticket_number": row.number,
        "resolved_at": now,
        "clock_started_at": row.reopened_at or row.created_at,
        "sla_due_at": row.sla_due_at,
        "type": row.type,
        "priority": row.priority,
    }
