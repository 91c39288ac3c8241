"""The batched sweep (SPEC §5, §9) on SQLite and PostgreSQL: every due ticket acted on
exactly once whatever the batch boundaries, and the loop guards (R2, R5 daily cap) holding
within a batch and across batches, as they do for one mail at a time."""

from __future__ import annotations

import email
import importlib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select, text

from maildesk.app import App
from maildesk.pipeline.accept import accept
from maildesk.pipeline.tickets import transition
from maildesk.registry import import_registry_file
from maildesk.store.models import Contact, Event, Ticket
from maildesk.timers import TIMERS, run_timers
from maildesk.timers.sweep import TimerReport, Units
from tests.helpers import NOW, make_mail, outbox

# the module, not the `sweep` function `maildesk.timers` re-exports under the same name
SWEEP = importlib.import_module("maildesk.timers.sweep")
CLOSE_AT = NOW + timedelta(days=40)  # 15 business days after NOW, and then some


def _resolved(app: App, n: int, sender: str = "ana@acme.example") -> list[int]:
    """n tickets from `sender`, resolved at NOW: all due for T1 at CLOSE_AT."""
    numbers = []
    for i in range(n):
        number = accept(app, make_mail(sender=sender, subject=f"Falla {i}"), "t", NOW).ticket_number
        assert number is not None
        numbers.append(number)
    with app.db.transaction() as s:
        for number in numbers:
            t = s.get(Ticket, number)
            assert t is not None
            transition(s, t, "resolved", NOW, "agente1@support.example", "fixed")
    return numbers


def _events(app: App, kind: str, at: datetime = CLOSE_AT) -> list[Event]:
    """Events of one kind recorded by the sweep at `at` (not while opening the tickets)."""
    with app.db.transaction() as s:
        q = select(Event).where(Event.kind == kind, Event.at == at)
        return list(s.scalars(q.order_by(Event.id)))


def _states(app: App, numbers: list[int]) -> list[str]:
    with app.db.transaction() as s:
        q = select(Ticket.state).where(Ticket.number.in_(numbers)).order_by(Ticket.number)
        return list(s.scalars(q))


@pytest.mark.parametrize("batch", [1, 2, 500])
def test_t1_every_due_ticket_closed_once_whatever_the_batches(
    app: App, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(SWEEP, "BATCH_SIZE", batch)
    due = _resolved(app, 5)
    later = _resolved(app, 1)  # resolved after CLOSE_AT - 15 business days: not due
    with app.db.transaction() as s:
        s.get(Ticket, later[0]).resolved_at = CLOSE_AT - timedelta(days=1)  # type: ignore[union-attr]
    report = run_timers(app, CLOSE_AT)
    assert [(a.verb, a.number) for a in report.actions] == [("close", n) for n in due]
    assert _states(app, due + later) == ["closed"] * 5 + ["resolved"]
    assert sorted(r.ticket_number for r in outbox(app, "closed")) == due
    timer_events = [e.ticket_number for e in _events(app, "timer")]
    assert timer_events == due
    assert run_timers(app, CLOSE_AT).actions == []
    assert len(outbox(app, "closed")) == 5 and len(_events(app, "timer")) == 5


@pytest.mark.parametrize("batch", [1, 2, 500])
def test_t1_daily_cap_holds_within_and_across_batches(
    make_app: Callable[..., App],
    registry_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch: int,
) -> None:
    """R5: at most `auto_mails_per_recipient_per_day` automatic mails to one address a day,
    counting those queued earlier in the same sweep; the rest become notice_suppressed."""
    app = make_app(limits={"auto_mails_per_recipient_per_day": 2})
    import_registry_file(app.db, registry_file)
    monkeypatch.setattr(SWEEP, "BATCH_SIZE", batch)
    numbers = _resolved(app, 5)  # their acknowledgements are 40 days old at CLOSE_AT
    report = run_timers(app, CLOSE_AT)
    assert len(report.actions) == 5 and _states(app, numbers) == ["closed"] * 5
    assert [r.ticket_number for r in outbox(app, "closed")] == numbers[:2]
    stopped = _events(app, "notice_suppressed")
    assert [e.ticket_number for e in stopped] == numbers[2:]
    assert {e.detail["reason"] for e in stopped} == {
        "daily cap of automatic mail to this address reached"
    }


def test_t1_daily_cap_counts_mail_queued_earlier_that_day(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    app = make_app(limits={"auto_mails_per_recipient_per_day": 3})
    import_registry_file(app.db, registry_file)
    numbers = _resolved(app, 3)
    # Two acknowledgements to ana an hour before the sweep: one closed notice left today.
    for i in range(2):
        accept(app, make_mail(subject=f"Otra {i}"), "t", CLOSE_AT - timedelta(hours=1))
    run_timers(app, CLOSE_AT)
    assert [r.ticket_number for r in outbox(app, "closed")] == numbers[:1]
    assert len(_events(app, "notice_suppressed")) == 2


def test_t1_bounced_requester_gets_no_notice_and_ticket_still_closes(app: App) -> None:
    """R2: a recipient suppressed after a permanent bounce is not mailed; the timer acts."""
    (number,) = _resolved(app, 1)
    (other,) = _resolved(app, 1, sender="luis@acme.example")
    with app.db.transaction() as s:
        s.execute(
            Contact.__table__.update()
            .where(Contact.email == "ana@acme.example")
            .values(suppressed_until=CLOSE_AT + timedelta(days=1))
        )
    run_timers(app, CLOSE_AT)
    assert _states(app, [number, other]) == ["closed", "closed"]
    assert [r.to_addr for r in outbox(app, "closed")] == ["luis@acme.example"]
    (event,) = _events(app, "notice_suppressed")
    assert event.ticket_number == number
    assert event.detail == {
        "template": "closed",
        "to": "ana@acme.example",
        "reason": "recipient suppressed after a permanent bounce",
    }


def test_t1_events_and_mail_in_the_order_one_ticket_at_a_time_gave(app: App) -> None:
    """Per ticket: the state change, then the timer's event (ids ascending), then the notice,
    threaded on the ticket's conversation."""
    (number,) = _resolved(app, 1)
    report = TimerReport(now=CLOSE_AT)
    units = Units(app, dry_run=False)
    for timer in TIMERS:  # run_timers without its flush: the rows as the sweep wrote them
        SWEEP.sweep(units, timer, CLOSE_AT, report)
    units.close()
    with app.db.transaction() as s:
        q = select(Event.kind, Event.detail).where(
            Event.ticket_number == number, Event.at == CLOSE_AT
        )
        rows = list(s.execute(q.order_by(Event.id)))
    assert [k for k, _ in rows] == ["state", "timer"]
    assert rows[0][1] == {
        "from": "resolved",
        "to": "closed",
        "reason": "no reply within 15 business days",
    }
    (row,) = outbox(app, "closed")
    msg = email.message_from_bytes(row.raw, policy=default)
    (ack,) = outbox(app, "acknowledgement")
    assert f"<{ack.message_id}>" in msg["References"]
    assert (row.state, row.attempts, row.automatic, row.created_at) == (
        "pending",
        0,
        True,
        CLOSE_AT,
    )


def test_t4_escalation_threads_into_the_conversation_not_on_internal_mail(app: App) -> None:
    """Two mails for one breach: both thread into the ticket's public conversation, as
    queue_mail threads; the first (an internal note) never becomes part of the thread
    (SPEC §10 "Headers": only ids of mail the customer saw)."""
    number = accept(app, make_mail(), "t", NOW).ticket_number
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None and t.sla_due_at is not None
        due = t.sla_due_at
    run_timers(app, due)
    first, second = outbox(app, "sla_breach")
    assert (first.to_addr, second.to_addr) == ("agente1@support.example", "jefe@support.example")
    m1 = email.message_from_bytes(first.raw, policy=default)
    m2 = email.message_from_bytes(second.raw, policy=default)
    assert m2["In-Reply-To"] == m1["In-Reply-To"] == "<" + m1["References"].split("<")[-1]
    assert first.message_id not in str(m2["References"])
    assert m1["Subject"] == m2["Subject"] and m1.get_content() == m2.get_content()


def test_t2_abandons_every_due_ticket_once_across_batches(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SWEEP, "BATCH_SIZE", 2)
    numbers = [accept(app, make_mail(subject=f"T{i}"), "t", NOW).ticket_number for i in range(5)]
    with app.db.transaction() as s:
        for i, number in enumerate(numbers):
            t = s.get(Ticket, number)
            assert t is not None
            # the last one answered 29 days before the sweep: not abandoned yet
            t.last_agent_public_at = NOW + timedelta(hours=1, days=2 if i == 4 else 0)
    at = NOW + timedelta(days=31, hours=1)
    report = run_timers(app, at)
    assert [a.number for a in report.actions if a.timer == "T2"] == numbers[:4]
    t2 = [e.ticket_number for e in _events(app, "timer", at) if e.detail["timer"] == "T2"]
    assert t2 == numbers[:4]
    assert _states(app, numbers) == ["resolved"] * 4 + ["open"]
    assert sorted(r.ticket_number for r in outbox(app, "abandoned")) == numbers[:4]
    assert [a for a in run_timers(app, at).actions if a.timer == "T2"] == []


def test_t1_skips_tickets_another_instance_holds(app: App) -> None:
    """§8 multi-instance: a ticket locked by another daemon's sweep is skipped, not done
    twice; the next sweep takes it."""
    if app.db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE: no concurrent sweep")
    held, free = _resolved(app, 2)
    with app.db.engine.connect() as other:
        tx = other.begin()
        other.execute(text("SELECT 1 FROM tickets WHERE number = :n FOR UPDATE"), {"n": held})
        report = run_timers(app, CLOSE_AT)
        tx.rollback()
    assert [a.number for a in report.actions] == [free]
    assert [a.number for a in run_timers(app, CLOSE_AT).actions] == [held]
    assert sorted(r.ticket_number for r in outbox(app, "closed")) == [held, free]


def test_t1_batch_failure_retries_one_by_one_without_doubling(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails is rolled back whole, then retried ticket by ticket: the good
    tickets are closed once, the bad one is reported and left for the next sweep."""
    import maildesk.timers.lifecycle as lifecycle

    numbers = _resolved(app, 3)
    real = lifecycle.transcript

    def failing(batch, t):  # type: ignore[no-untyped-def]
        if t.number == numbers[1]:
            raise RuntimeError("boom")
        return real(batch, t)

    monkeypatch.setattr(lifecycle, "transcript", failing)
    report = run_timers(app, CLOSE_AT)
    assert [a.number for a in report.actions] == [numbers[0], numbers[2]]
    assert _states(app, numbers) == ["closed", "resolved", "closed"]
    assert sorted(r.ticket_number for r in outbox(app, "closed")) == [numbers[0], numbers[2]]
    assert len(_events(app, "timer")) == 2
    monkeypatch.undo()
    assert [a.number for a in run_timers(app, CLOSE_AT).actions] == [numbers[1]]


def test_sweep_reports_progress_batch_by_batch(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: a long sweep can show its progress (the CLI draws it on a terminal)."""
    monkeypatch.setattr(SWEEP, "BATCH_SIZE", 2)
    _resolved(app, 5)
    heard: list[tuple[str, int, int]] = []
    run_timers(
        app, CLOSE_AT, progress=lambda timer, done, total: heard.append((timer, done, total))
    )
    assert [h for h in heard if h[0] == "T1"] == [("T1", 2, 5), ("T1", 4, 5), ("T1", 5, 5)]
