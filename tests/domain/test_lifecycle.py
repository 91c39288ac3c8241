"""The state rule both ticket paths use (the pipeline's ORM tickets, the timers' rows):
P6 states, P10 reopen, P11 closed is final, P12 abandonment as a resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from maildesk.domain.lifecycle import transition_values
from maildesk.errors import IllegalTransition

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
BEFORE = NOW - timedelta(days=3)


def _row(state: str, resolved_at: datetime | None = None, reason: str | None = None) -> object:
    return SimpleNamespace(state=state, resolved_at=resolved_at, resolution_reason=reason)


def test_p6_resolve_stamps_resolution_and_reason() -> None:
    values, detail = transition_values(_row("open"), "resolved", NOW, "abandoned")
    assert values == {
        "state": "resolved",
        "updated_at": NOW,
        "resolved_at": NOW,
        "resolution_reason": "abandoned",
    }
    assert detail == {"from": "open", "to": "resolved", "reason": "abandoned"}


def test_p6_close_from_open_counts_as_resolved_now() -> None:
    values, _ = transition_values(_row("open"), "closed", NOW, "agent")
    assert values == {
        "state": "closed",
        "updated_at": NOW,
        "closed_at": NOW,
        "resolved_at": NOW,
        "resolution_reason": "agent",
    }


def test_p6_close_keeps_an_earlier_resolution_and_its_reason() -> None:
    values, _ = transition_values(_row("resolved", BEFORE, "fixed"), "closed", NOW, "T1")
    assert values == {
        "state": "closed",
        "updated_at": NOW,
        "closed_at": NOW,
        "resolution_reason": "fixed",
    }  # resolved_at is not touched: T1 counted its 15 business days from it
    values, _ = transition_values(_row("open", None, "out_of_scope"), "closed", NOW, "x")
    assert values["resolution_reason"] == "out_of_scope"


def test_p10_reopen_clears_the_resolution() -> None:
    values, detail = transition_values(_row("resolved", BEFORE, "fixed"), "open", NOW, "reply")
    assert values == {
        "state": "open",
        "updated_at": NOW,
        "resolved_at": None,
        "resolution_reason": None,
    }
    assert detail["from"] == "resolved" and detail["to"] == "open"


@pytest.mark.parametrize(
    ("state", "target"),
    [("closed", "open"), ("closed", "resolved"), ("open", "open"), ("resolved", "resolved")],
)
def test_p11_closed_is_final_and_no_state_moves_to_itself(state: str, target: str) -> None:
    with pytest.raises(IllegalTransition):
        transition_values(_row(state), target, NOW, "")
