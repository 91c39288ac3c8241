"""The batched sweep re-states a few things the one-ticket code does (a notice's ticket
context, T1's transcript, a stored row); these tests keep each pair identical, on SQLite
and PostgreSQL, so neither can drift from the other. (A transition's columns are one rule,
domain.lifecycle.transition_values, used by both.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from maildesk.app import App
from maildesk.outbound.bulk import insert_many
from maildesk.outbound.notices import ticket_context, ticket_context_of
from maildesk.outbound.transcript import transcript_text
from maildesk.pipeline.accept import accept
from maildesk.pipeline.tickets import transition
from maildesk.store.models import Event, Ticket
from maildesk.timers.batch import Batch
from maildesk.timers.lifecycle import CLOSE_AFTER_WINDOW
from maildesk.timers.sla import SLA_BREACH
from tests.helpers import NOW, make_mail

LATER = NOW + timedelta(days=40)


def _ticket(app: App, **values: Any) -> int:
    number = accept(app, make_mail(), "t", NOW).ticket_number
    assert number is not None
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        for k, v in values.items():
            setattr(t, k, v)
    return number


def test_t4_bulk_ticket_context_is_queue_mails(app: App) -> None:
    number = _ticket(app, product="bFiskur", product_version="5.2", follows_up=7)
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None and t.sla_due_at is not None
        (row,) = Batch(s, app, t.sla_due_at).load(SLA_BREACH, [number])
        assert ticket_context_of(app, row._asdict()) == ticket_context(app, t)


def test_t1_bulk_transcript_is_views_transcript_text(app: App) -> None:
    number = _ticket(app)
    follow = make_mail(subject=f"Re: [BITAM #{number}] Falla", body="Sigue igual.\n")
    accept(app, follow, "t", NOW + timedelta(hours=1))
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        transition(s, t, "resolved", NOW + timedelta(hours=2), "system", "fixed")
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        expected = transcript_text(s, app, t)
        batch = Batch(s, app, LATER)
        (row,) = batch.load(CLOSE_AFTER_WINDOW, [number])
        assert batch.transcript(row) == expected
    assert "Sigue igual." in expected


def test_t1_insert_many_stores_what_an_insert_stores(app: App) -> None:
    """Rows written by `insert_many` read back exactly as a plain Core INSERT's do."""
    row = {
        "ticket_number": None,
        "contact_id": None,
        "at": LATER,
        "kind": "timer",
        "actor": "system",
        "detail": {"timer": "T1", "ok": True, "to": ["a@b.example"], "n": 3, "x": None},
    }
    with app.db.transaction() as s:
        conn = s.connection()
        conn.execute(insert(Event), [row, {**row, "kind": "plain"}])
        insert_many(conn, Event.__table__, [{**row, "kind": "many"}, {**row, "kind": "many"}])
    with app.db.transaction() as s:
        got = list(s.execute(select(Event.kind, Event.at, Event.actor, Event.detail)))
    assert {(at, actor, str(d)) for _, at, actor, d in got} == {
        (LATER, "system", str(row["detail"]))
    }
    assert sorted(k for k, *_ in got) == ["many", "many", "plain", "timer"]
