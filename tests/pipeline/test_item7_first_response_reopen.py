"""Issue 8 item 7, first response and reopening measured honestly (SPEC §10): the first public
agent answer is recorded; a reply that reopens a resolved ticket (P10) starts a new SLA clock
instead of making it breached at once, while the earlier on-time resolution stays met in
compliance; a P11 follow-up inherits type, priority and product. Through `accept` and the
timers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from maildesk.app import App
from maildesk.domain.lifecycle import State
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.pipeline.tickets import transition
from maildesk.reports import sla_report
from maildesk.store.models import Event, Resolution, Ticket
from maildesk.timers import run_timers
from tests.helpers import NOW, make_mail, outbox

MX = ZoneInfo("America/Mexico_City")
AGENT = "agente1@support.example"


def _open(app: App, at: datetime = NOW, n: int = 1) -> int:
    raw = make_mail(subject="El reporte no carga", message_id=f"<c{n}@acme.example>")
    out = accept(app, raw, "test", at)
    assert out.kind is Kind.TICKETED and out.ticket_number is not None
    return out.ticket_number


def _agent(app: App, number: int, body: str, at: datetime) -> None:
    """The agent answers the ticket's notification from their mail client."""
    nid = [r for r in outbox(app, "agent_notification") if r.ticket_number == number][-1]
    raw = make_mail(
        sender=AGENT,
        subject=f"Re: [BITAM #{number}] El reporte no carga",
        body=body,
        in_reply_to=f"<{nid.message_id}>",
    )
    out = accept(app, raw, "imap:support/INBOX/1:1", at)
    assert out.kind is Kind.FOLLOWED_UP, out


def _customer(app: App, number: int, body: str, at: datetime, n: int) -> Kind:
    raw = make_mail(
        subject=f"Re: [BITAM #{number}] El reporte no carga",
        body=body,
        message_id=f"<r{n}@acme.example>",
    )
    return accept(app, raw, "test", at).kind


def _ticket(app: App, number: int) -> Ticket:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        return t


def test_item7_first_response_at_is_the_first_public_agent_answer(app: App) -> None:
    number = _open(app)
    _agent(app, number, "#note\nLlamé al cliente, no contestó.", NOW + timedelta(minutes=5))
    _agent(app, number, "#priority alta", NOW + timedelta(minutes=6))
    assert _ticket(app, number).first_response_at is None  # notes and commands are not answers
    first = NOW + timedelta(minutes=30)
    _agent(app, number, "Hola Ana, ¿desde qué navegador entra?", first)
    _agent(app, number, "¿Sigue fallando?", NOW + timedelta(hours=2))
    assert _ticket(app, number).first_response_at == first


def _urgent_resolved_on_time(app: App) -> tuple[int, datetime]:
    """soporte/urgente (4 business hours) opened Wed 10:00, answered and resolved at 11:00."""
    number = _open(app)
    resolved = NOW + timedelta(hours=1)
    _agent(app, number, "#priority urgente\n#resolve\nYa quedó corregido.", resolved)
    t = _ticket(app, number)
    assert t.state is State.RESOLVED and t.sla_due_at == datetime(2026, 11, 25, 14, 0, tzinfo=MX)
    return number, resolved


def test_item7_reopen_starts_a_new_sla_clock_and_is_not_breached_at_once(app: App) -> None:
    number, _ = _urgent_resolved_on_time(app)
    reopened = datetime(2026, 11, 30, 9, 0, tzinfo=MX)  # Monday, days after the old due time
    assert _customer(app, number, "Volvió a fallar esta mañana.", reopened, 1) is Kind.FOLLOWED_UP
    t = _ticket(app, number)
    assert t.state is State.OPEN and t.reopened_at == reopened
    # The new clock: 4 business hours from the reopening, current type and priority.
    assert t.sla_due_at == datetime(2026, 11, 30, 13, 0, tzinfo=MX)
    assert t.sla_warn_at == datetime(2026, 11, 30, 12, 0, tzinfo=MX)
    assert not t.sla_warned and not t.sla_breached

    report = run_timers(app, reopened + timedelta(minutes=1))
    assert [a.verb for a in report.actions if a.number == number] == []
    assert outbox(app, "sla_breach") == [] and outbox(app, "sla_warning") == []

    # Only the new clock's warning and breach can fire, at their own times.
    report = run_timers(app, datetime(2026, 11, 30, 12, 0, tzinfo=MX))
    assert [a.verb for a in report.actions if a.number == number] == ["warn"]
    report = run_timers(app, datetime(2026, 11, 30, 13, 0, tzinfo=MX))
    assert [a.verb for a in report.actions if a.number == number] == ["escalate"]
    with app.db.transaction() as s:
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.ticket_number == number))]
    assert "sla_restarted" in kinds


def test_item7_earlier_on_time_resolution_stays_met_in_compliance(app: App) -> None:
    number, resolved = _urgent_resolved_on_time(app)
    reopened = datetime(2026, 11, 30, 9, 0, tzinfo=MX)
    _customer(app, number, "Volvió a fallar esta mañana.", reopened, 1)
    after_reopen = sla_report(app, reopened + timedelta(hours=1))
    r = after_reopen["resolved"]
    assert (r["on_time"], r["late"], r["compliance_pct"]) == (1, 0, 100.0)
    assert after_reopen["open"]["by_status"]["breached"] == 0  # measured on the new clock

    # Resolved again after the new clock's due time: that clock is late, the first stays met.
    _agent(app, number, "#resolve\nAhora sí.", datetime(2026, 11, 30, 15, 0, tzinfo=MX))
    r = sla_report(app, datetime(2026, 12, 1, 9, 0, tzinfo=MX))["resolved"]
    assert (r["total"], r["on_time"], r["late"], r["compliance_pct"]) == (2, 1, 1, 50.0)
    with app.db.transaction() as s:
        clocks = list(s.scalars(select(Resolution).order_by(Resolution.id)))
    assert [(c.clock_started_at, c.resolved_at <= c.sla_due_at) for c in clocks] == [
        (NOW, True),
        (reopened, False),
    ]
    assert clocks[0].resolved_at == resolved


def test_item7_reopened_clock_follows_a_priority_change_from_the_reopening(app: App) -> None:
    number, _ = _urgent_resolved_on_time(app)
    reopened = datetime(2026, 11, 30, 9, 0, tzinfo=MX)
    _customer(app, number, "Volvió a fallar esta mañana.", reopened, 1)
    _agent(app, number, "#priority alta", reopened + timedelta(minutes=10))
    # 16 business hours from Monday 09:00: Monday 10 h (to 19:00), Tuesday 08:30 + 6 h.
    assert _ticket(app, number).sla_due_at == datetime(2026, 12, 1, 14, 30, tzinfo=MX)


def test_item7_t2_abandoned_resolution_is_in_the_ledger_like_an_agents(app: App) -> None:
    """The timers' bulk path records the clock it ends exactly as the one-ticket path."""
    number = _open(app)
    _agent(app, number, "¿Nos confirma la versión?", NOW + timedelta(hours=1))
    run_timers(app, NOW + timedelta(days=31))
    with app.db.transaction() as s:
        (clock,) = s.scalars(select(Resolution).where(Resolution.ticket_number == number))
        t = s.get(Ticket, number)
        assert t is not None and t.state is State.RESOLVED
        assert (clock.resolved_at, clock.sla_due_at) == (t.resolved_at, t.sla_due_at)
        assert (clock.clock_started_at, clock.type, clock.priority) == (NOW, t.type, t.priority)


def test_item7_p11_followup_inherits_type_priority_and_product(app: App) -> None:
    number = _open(app)
    _agent(
        app,
        number,
        "#type error\n#priority alta\n#product bVentor 2.0\n#resolve\nCorregido.",
        NOW + timedelta(hours=1),
    )
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        transition(s, t, "closed", NOW + timedelta(days=30), "system", "T1")
    later = NOW + timedelta(days=40)
    assert _customer(app, number, "El error volvió.", later, 2) is Kind.TICKETED
    with app.db.transaction() as s:
        new = s.scalars(select(Ticket).where(Ticket.follows_up == number)).one()
        assert (new.type, new.priority, new.unclassified) == ("error", "alta", False)
        assert (new.product, new.product_version) == ("bVentor", "2.0")
        assert new.created_at == later and new.sla_due_at is not None
        assert new.sla_due_at > later  # its own clock (16 business hours), not the old one's
        assert new.assignee is not None and "error" in new.assignee.skills
