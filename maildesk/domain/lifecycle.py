"""Ticket states and legal transitions (P6, P10, P11, P12): the only place states change."""

from __future__ import annotations

from enum import StrEnum

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
