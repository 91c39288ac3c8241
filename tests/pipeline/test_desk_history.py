"""Issue 8 item 3, the customer's history at first attention: the new-ticket mail lists the
customer's other tickets not yet closed and the last five closed (number, subject, state and
date in words), never another customer's; one statement whatever the customer's size. On
SQLite and PostgreSQL, through `accept`."""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email.policy import default

from sqlalchemy import event, text

from maildesk.app import App
from maildesk.domain.dates import date_in_words
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.pipeline.tickets import transition
from maildesk.store.history import _HISTORY
from maildesk.store.models import Outbox, Ticket
from tests.helpers import NOW, make_mail, outbox

AGENT = "agente1@support.example"


def _open(app: App, subject: str, when: datetime, sender: str = "ana@acme.example") -> int:
    out = accept(app, make_mail(sender=sender, subject=subject), "t", when)
    assert out.kind is Kind.TICKETED and out.ticket_number is not None
    return out.ticket_number


def _move(app: App, number: int, state: str, when: datetime) -> None:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        transition(s, t, state, when, AGENT, "test")


def _text(row: Outbox) -> str:
    msg = email.message_from_bytes(row.raw, policy=default)
    body = msg.get_body(("plain",))
    assert body is not None
    return " ".join(body.get_content().split())  # unfolded: format=flowed wraps long lines


def _day(app: App, when: datetime) -> str:
    return date_in_words(when.astimezone(app.calendar.tz).date(), "es")


def _history(text: str) -> str:
    return text.split("Historial de ACME S.A. de C.V.", 1)[1]


def test_item3_new_ticket_mail_lists_open_tickets_and_the_last_five_closed(app: App) -> None:
    start = NOW - timedelta(days=60)
    closed = []
    for n in range(7):  # closed on seven different days, the oldest first
        number = _open(app, f"Consulta cerrada {n}", start + timedelta(days=n))
        _move(app, number, "closed", start + timedelta(days=n, hours=5))
        closed.append(number)
    still_open = _open(app, "Factura duplicada", NOW - timedelta(days=3))
    resolved = _open(app, "Error al timbrar", NOW - timedelta(days=2))
    _move(app, resolved, "resolved", NOW - timedelta(days=1))
    other_customer = _open(app, "Asunto de Globex", NOW - timedelta(days=1), "gina@globex.example")

    new = _open(app, "El reporte de ventas no carga", NOW)
    (note,) = [r for r in outbox(app, "agent_notification") if r.ticket_number == new]
    history = _history(_text(note))
    assert (
        f"[BITAM #{still_open}] Factura duplicada: abierto desde el "
        f"{_day(app, NOW - timedelta(days=3))}" in history
    )
    assert (
        f"[BITAM #{resolved}] Error al timbrar: resuelto el {_day(app, NOW - timedelta(days=1))}"
        in history
    )
    for n, number in enumerate(closed):
        line = f"[BITAM #{number}] Consulta cerrada {n}: cerrado el "
        line += _day(app, start + timedelta(days=n, hours=5))
        assert (line in history) is (n >= 2), n  # the last five closed, not the two oldest
    shown = [int(part.split("]")[0]) for part in history.split("[BITAM #")[1:]]
    assert shown == [resolved, still_open, *reversed(closed[2:])]  # newest first
    assert f"#{new}]" not in history and f"#{other_customer}]" not in history
    assert "Asunto de Globex" not in history


def test_item3_first_ticket_of_a_customer_says_there_is_no_history(app: App) -> None:
    _open(app, "Primera consulta", NOW)
    (note,) = outbox(app, "agent_notification")
    assert "No tiene otros tickets." in _history(_text(note))


def test_item3_followups_carry_no_history(app: App) -> None:
    number = _open(app, "Primera consulta", NOW)
    follow = make_mail(subject=f"Re: [BITAM #{number}] Primera consulta", body="Otro dato.\n")
    assert accept(app, follow, "t", NOW + timedelta(hours=1)).kind is Kind.FOLLOWED_UP
    rows = outbox(app, "agent_notification")
    assert len(rows) == 2 and "Historial de" not in _text(rows[1])


def _statements(app: App, raw: bytes, when: datetime) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(app.db.engine, "before_cursor_execute", count)
    try:
        assert accept(app, raw, "t", when).kind is Kind.TICKETED
    finally:
        event.remove(app.db.engine, "before_cursor_execute", count)
    return seen


def test_item3_history_is_one_statement_whatever_the_customer_size(app: App) -> None:
    """No N+1: the new-ticket path runs as many statements for a customer with fourteen
    other tickets as for one with a single other ticket."""
    _open(app, "La primera", NOW - timedelta(days=30))
    few = _statements(app, make_mail(subject="Con poca historia"), NOW - timedelta(days=20))
    for n in range(14):
        number = _open(app, f"Historia {n}", NOW - timedelta(days=19 - n))
        if n % 2:
            _move(app, number, "closed", NOW - timedelta(days=18 - n))
    many = _statements(app, make_mail(subject="Con mucha historia"), NOW)
    assert len(many) == len(few)
    assert sum("UNION ALL" in s for s in many) == 1


def test_item3_history_reads_the_customer_index_on_sqlite(app: App) -> None:
    """The query plan walks (customer, state, closed_at), never the whole tickets table."""
    if app.db.dialect != "sqlite":
        return  # PostgreSQL's planner picks by table size; the SQLite plan is deterministic
    with app.db.engine.connect() as conn:
        query = _HISTORY.params(customer="acme", exclude=0).compile(
            conn, compile_kwargs={"literal_binds": True}
        )
        plan = conn.execute(text(f"EXPLAIN QUERY PLAN {query}")).all()
    details = [row[-1] for row in plan]
    assert any("ix_tickets_customer_state_closed" in d for d in details), details
    assert not any(d.startswith("SCAN tickets") for d in details), details
