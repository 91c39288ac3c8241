"""accept_batch: a channel's batch in one transaction (group commit) with the outcomes each
mail gets alone (R1, R9), a bug costing only its own mail and a database failure writing
nothing (SPEC §8), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from maildesk.app import App
from maildesk.domain.lifecycle import State
from maildesk.errors import TemporaryFailure
from maildesk.pipeline import accept as pipeline
from maildesk.pipeline.accept import accept_batch
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.store.models import Inbox, Outbox, Ticket
from tests.helpers import count, make_mail


def _kinds(results: list[Outcome | Exception]) -> list[Any]:
    return [r.kind if isinstance(r, Outcome) else type(r) for r in results]


def test_r1_r9_batch_gives_each_mail_its_own_outcome(app: App) -> None:
    first = make_mail(message_id="<first@acme.example>")
    reply = make_mail(subject="Re: El reporte", in_reply_to="<first@acme.example>")
    stranger = make_mail(sender="nadie@unknown.example")
    items = [(first, "b:1"), (reply, "b:2"), (first, "b:3"), (stranger, "b:4")]

    results = accept_batch(app, items)

    # The reply finds the ticket opened earlier in the same transaction; the second copy
    # of the first mail is a duplicate of a row not yet committed when it was checked.
    assert _kinds(results) == [Kind.TICKETED, Kind.FOLLOWED_UP, Kind.IGNORED, Kind.REJECTED]
    assert isinstance(results[2], Outcome) and results[2].duplicate
    assert isinstance(results[1], Outcome) and results[1].ticket_number == 1
    assert count(app, Ticket) == 1
    assert count(app, Inbox) == 3  # one ledger row per mail, none for the duplicate


def test_s8_batch_bug_costs_only_its_own_mail(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    real_route = pipeline.route

    def route(msg: Any, *args: Any) -> Any:
        if msg.subject == "boom":
            raise RuntimeError("a bug in routing")
        return real_route(msg, *args)

    monkeypatch.setattr(pipeline, "route", route)
    heard: list[Outcome] = []
    app.outcome_listeners.append(heard.append)
    items = [
        (make_mail(subject="uno"), "b:1"),
        (make_mail(subject="boom"), "b:2"),
        (make_mail(subject="tres"), "b:3"),
    ]

    results = accept_batch(app, items)

    assert _kinds(results) == [Kind.TICKETED, RuntimeError, Kind.TICKETED]
    assert count(app, Ticket) == 2 and count(app, Inbox) == 2
    with app.db.transaction() as s:
        subjects = set(s.scalars(select(Inbox.subject)))
    assert subjects == {"uno", "tres"}  # nothing of the failed mail was written
    assert [o.kind for o in heard] == [Kind.TICKETED, Kind.TICKETED]


def test_s8_batch_database_failure_writes_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_apply = pipeline.apply_decision
    calls = []

    def apply_decision(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise TemporaryFailure("database unavailable")
        return real_apply(*args, **kw)

    monkeypatch.setattr(pipeline, "apply_decision", apply_decision)
    heard: list[Outcome] = []
    app.outcome_listeners.append(heard.append)
    items = [(make_mail(subject=f"mail {n}"), f"b:{n}") for n in range(3)]

    with pytest.raises(TemporaryFailure):
        accept_batch(app, items)

    assert (count(app, Ticket), count(app, Inbox), count(app, Outbox)) == (0, 0, 0)
    assert heard == []  # nobody is told of work that was rolled back


def test_s8_batch_listeners_hear_only_committed_outcomes(app: App) -> None:
    seen: list[int] = []

    def listener(outcome: Outcome) -> None:
        # Another connection: sees the ticket only if the batch already committed.
        with app.db.transaction() as s:
            seen.append(s.scalar(select(func.count()).select_from(Ticket)) or 0)

    app.outcome_listeners.append(listener)
    accept_batch(app, [(make_mail(subject=f"mail {n}"), f"b:{n}") for n in range(3)])

    assert seen == [3, 3, 3]


def test_p11_batch_sees_a_ticket_closed_earlier_in_the_same_batch(app: App) -> None:
    """An agent's #close and the customer's reply in one batch: the reply must see the
    ticket closed (a new linked ticket, P11), not the state it had when the batch began."""
    from tests.helpers import outbox

    opened = accept_batch(app, [(make_mail(message_id="<c1@acme.example>"), "b:0")])
    assert isinstance(opened[0], Outcome) and opened[0].ticket_number == 1
    (note,) = [r for r in outbox(app, "agent_notification") if r.ticket_number == 1][-1:]
    close = make_mail(
        sender="agente1@support.example",
        subject="Re: [BITAM #1] El reporte de ventas no carga",
        body="#close\n",
        in_reply_to=f"<{note.message_id}>",
        references=f"<{note.message_id}>",
    )
    reply = make_mail(subject="Re: [BITAM #1] El reporte de ventas no carga", body="¿Y ahora?\n")

    results = accept_batch(app, [(close, "b:1"), (reply, "b:2")])

    assert _kinds(results) == [Kind.FOLLOWED_UP, Kind.TICKETED]
    with app.db.transaction() as s:
        first, second = s.get(Ticket, 1), s.get(Ticket, 2)
        assert first is not None and first.state is State.CLOSED
        assert second is not None and second.follows_up == 1


def test_p7_batch_spreads_new_tickets_by_load(make_app: Any, registry_file: Any) -> None:
    """Tickets opened in one batch count toward the agents' loads as they are assigned."""
    from maildesk.pipeline.accept import accept
    from maildesk.pipeline.tickets import transition
    from maildesk.registry import import_registry_file
    from tests.helpers import NOW

    app = make_app(
        agents=[
            {"email": "s1@support.example", "name": "S1", "skills": ["soporte"]},
            {"email": "s2@support.example", "name": "S2", "skills": ["soporte"]},
        ]
    )
    import_registry_file(app.db, registry_file)
    for n in range(3):  # s1, s2, then s1 again (a tie goes to the longest idle)
        accept(app, make_mail(subject=f"antes {n}"), f"a:{n}", NOW + timedelta(minutes=n))
    with app.db.transaction() as s:
        for number in (1, 3):
            transition(s, s.get(Ticket, number), "resolved", NOW, "test")  # loads: s1 0, s2 1
    items = [(make_mail(subject=f"tema {n}"), f"b:{n}") for n in range(4)]

    results = accept_batch(app, items)

    assert _kinds(results) == [Kind.TICKETED] * 4
    with app.db.transaction() as s:
        got = [s.get(Ticket, n).assignee.email for n in range(4, 8)]  # type: ignore[union-attr]
    # 0/1 -> s1; 1/1 tie -> s2 (idle longer); 1/2 -> s1; 2/2 tie -> s2. Counts that did
    # not grow within the batch would give s1 every time.
    assert got == ["s1@support.example", "s2@support.example"] * 2
