"""Policy timers T1–T5 (SPEC §5; P8, P10, P12, P13) on a real database, SQLite and PostgreSQL.

Until the agent-mail code relays public answers, tests simulate an agent's public answer by
setting `last_agent_public_at` directly: that column is exactly what T2 reads.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.policy import default
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from maildesk.app import App
from maildesk.cli import main
from maildesk.config import config_from_dict
from maildesk.domain.lifecycle import State
from maildesk.pipeline.accept import accept
from maildesk.pipeline.tickets import transition
from maildesk.store.models import Agent, Event, Message, Outbox, Ticket
from maildesk.timers import run_timers
from tests.helpers import NOW, make_mail, outbox

MX = ZoneInfo("America/Mexico_City")
US = timedelta(microseconds=1)


def _new(app: App, at: datetime, sender: str = "ana@acme.example", subject: str = "Falla") -> int:
    out = accept(app, make_mail(sender=sender, subject=subject), "test", at)
    assert out.ticket_number is not None
    return out.ticket_number


def _ticket(app: App, number: int) -> Ticket:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        return t


def _set(app: App, number: int, **values: object) -> None:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        for key, value in values.items():
            setattr(t, key, value)


def _resolve(app: App, number: int, at: datetime) -> None:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        transition(s, t, "resolved", at, "agente1@support.example", "fixed")


def _agent_answer(app: App, number: int, at: datetime) -> None:
    # Simulated public agent answer (see the module docstring).
    _set(app, number, last_agent_public_at=at)


def _timer_events(app: App, number: int) -> list[dict]:
    with app.db.transaction() as s:
        q = select(Event).where(Event.ticket_number == number, Event.kind == "timer")
        return [e.detail for e in s.scalars(q.order_by(Event.id))]


def _snapshot(app: App) -> tuple[list[tuple], dict[str, int]]:
    """Everything a timer may write: ticket state and flags, and the rows it may add."""
    with app.db.transaction() as s:
        tickets = [
            (
                t.number,
                t.state,
                t.resolved_at,
                t.closed_at,
                t.resolution_reason,
                t.sla_warned,
                t.sla_breached,
                t.feature_reminders_sent,
                t.updated_at,
            )
            for t in s.scalars(select(Ticket).order_by(Ticket.number))
        ]
        counts = {
            m.__name__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Outbox, Event, Message)
        }
    return tickets, counts


def _feature(app: App, at: datetime, assignee: str = "agente2@support.example") -> int:
    number = _new(app, at, subject="Nuevo reporte de cartera")
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        agent = s.scalar(select(Agent).where(Agent.email == assignee))
        assert t is not None and agent is not None
        t.type, t.type_set_at, t.unclassified, t.assignee = "nuevo_requerimiento", at, False, agent
        t.sla_due_at = t.sla_warn_at = None  # P8: no SLA for new features
    return number


# --- T1 (P10) -------------------------------------------------------------------------------


def test_t1_not_before_15_business_days_and_yes_after(app: App) -> None:
    number = _new(app, datetime(2026, 11, 5, 10, 0, tzinfo=MX))
    resolved = datetime(2026, 11, 6, 12, 0, tzinfo=MX)  # a Friday
    _resolve(app, number, resolved)
    # Weekends and Revolution Day (Mon 2026-11-16) do not count: 15 business days end on
    # Mon 2026-11-30 at the same wall time, not on Fri 11-27.
    due = datetime(2026, 11, 30, 12, 0, tzinfo=MX)
    assert app.calendar.add_business_days(resolved, 15) == due
    for before in (datetime(2026, 11, 27, 12, 0, tzinfo=MX), due - US):
        report = run_timers(app, before)
        assert report.actions == [] and _ticket(app, number).state is State.RESOLVED
    report = run_timers(app, due)
    assert [a.line() for a in report.actions] == [
        f"T1 close #{number} (resolved 2026-11-06 12:00, 15 business days passed)"
    ]
    t = _ticket(app, number)
    assert (t.state, t.closed_at) == ("closed", due)
    assert _timer_events(app, number)[0]["timer"] == "T1"


def test_t1_uses_business_calendar_even_for_7x24_customer(app: App) -> None:
    number = _new(app, datetime(2026, 11, 5, 10, 0, tzinfo=MX), sender="gina@globex.example")
    _resolve(app, number, datetime(2026, 11, 6, 12, 0, tzinfo=MX))
    run_timers(app, datetime(2026, 11, 27, 12, 0, tzinfo=MX))  # 21 calendar days: not yet
    assert _ticket(app, number).state is State.RESOLVED
    run_timers(app, datetime(2026, 11, 30, 12, 0, tzinfo=MX))
    assert _ticket(app, number).state is State.CLOSED


def test_t1_closed_notice_has_transcript_attached(app: App) -> None:
    created = datetime(2026, 11, 2, 10, 0, tzinfo=MX)
    number = _new(app, created, subject="No imprime facturas")
    follow = make_mail(
        subject=f"Re: [BITAM #{number}] No imprime facturas",
        body="Adjunto captura, sigue sin imprimir.\n",
    )
    assert accept(app, follow, "test", created + timedelta(hours=2)).ticket_number == number
    _resolve(app, number, created + timedelta(days=1))
    run_timers(app, created + timedelta(days=40))
    (row,) = outbox(app, "closed")
    assert row.to_addr == "ana@acme.example" and row.ticket_number == number
    msg = email.message_from_bytes(row.raw, policy=default)
    assert msg["Auto-Submitted"] == "auto-generated"
    (part,) = [p for p in msg.walk() if p.get_filename()]
    assert part.get_filename() == f"transcript-{number}.txt"
    assert part.get_content_type() == "text/plain"
    text = part.get_payload(decode=True).decode("utf-8")
    assert text.startswith(f"[BITAM #{number}] No imprime facturas")
    assert "el reporte de ventas marca error 500" in text
    assert "Adjunto captura, sigue sin imprimir." in text
    assert "ana@acme.example" in text


# --- T2 (P12) -------------------------------------------------------------------------------


def test_t2_abandoned_at_31_days_not_29(app: App) -> None:
    number = _new(app, NOW)
    answered = NOW + timedelta(hours=2)
    _agent_answer(app, number, answered)
    run_timers(app, answered + timedelta(days=29))
    assert _ticket(app, number).state is State.OPEN and outbox(app, "abandoned") == []
    at = answered + timedelta(days=31)
    report = run_timers(app, at)
    assert [a.verb for a in report.actions] == ["abandon"]
    t = _ticket(app, number)
    assert (t.state, t.resolution_reason, t.resolved_at) == ("resolved", "abandoned", at)
    (row,) = outbox(app, "abandoned")
    body = email.message_from_bytes(row.raw, policy=default).get_body().get_content()
    assert "30" in body and "15" in body and row.to_addr == "ana@acme.example"


def test_t2_customer_reply_after_agent_answer_prevents_abandon(app: App) -> None:
    number = _new(app, NOW)
    _agent_answer(app, number, NOW + timedelta(hours=1))
    reply = make_mail(subject=f"Re: [BITAM #{number}] Falla", body="Lo reviso y les aviso.\n")
    assert accept(app, reply, "test", NOW + timedelta(days=1)).ticket_number == number
    report = run_timers(app, NOW + timedelta(days=45))
    assert [a for a in report.actions if a.timer == "T2"] == []
    assert _ticket(app, number).state is State.OPEN


def test_t2_then_t1_closes(app: App) -> None:
    number = _new(app, NOW)
    _agent_answer(app, number, NOW + timedelta(hours=1))
    abandoned_at = NOW + timedelta(days=31)
    run_timers(app, abandoned_at)
    assert _ticket(app, number).state is State.RESOLVED
    due = app.calendar.add_business_days(abandoned_at, 15)
    run_timers(app, due - US)
    assert _ticket(app, number).state is State.RESOLVED
    report = run_timers(app, due)
    assert [a.line().split(" (")[0] for a in report.actions] == [f"T1 close #{number}"]
    t = _ticket(app, number)
    assert (t.state, t.resolution_reason) == ("closed", "abandoned")
    assert len(outbox(app, "closed")) == 1


# --- T3 (P13) -------------------------------------------------------------------------------


@pytest.fixture
def committee_app(make_app, registry_file: Path) -> App:
    from maildesk.registry import import_registry_file

    a = make_app(committee={"address": "comite@support.example"})
    import_registry_file(a.db, registry_file)
    return a


def test_t3_reminders_day_8_and_10_once_each(committee_app: App) -> None:
    app = committee_app
    typed = NOW
    number = _feature(app, typed)
    # Day 10 is the deadline: it passes with no decision, so the supervisor is told too (§10).
    for day, expected in ((7, 0), (8, 2), (8.5, 2), (10, 5), (12, 5), (30, 5)):
        run_timers(app, typed + timedelta(days=day))
        assert len(outbox(app, "feature_reminder")) == expected, day
    rows = outbox(app, "feature_reminder")
    assert sorted(r.to_addr for r in rows) == [
        "agente2@support.example",
        "agente2@support.example",
        "comite@support.example",
        "comite@support.example",
        "jefe@support.example",
    ]
    subjects = [
        str(make_header(decode_header(email.message_from_bytes(r.raw)["Subject"]))) for r in rows
    ]
    assert sum("8" in s for s in subjects) >= 2 and sum("10" in s for s in subjects) >= 2
    assert [e["day"] for e in _timer_events(app, number)] == [8, 10]
    assert _ticket(app, number).feature_reminders_sent == 2


def test_t3_no_reminder_after_viable_decision(committee_app: App) -> None:
    app = committee_app
    number = _feature(app, NOW)
    run_timers(app, NOW + timedelta(days=8))
    assert len(outbox(app, "feature_reminder")) == 2
    _set(app, number, viable="yes")  # the #viable command records this
    run_timers(app, NOW + timedelta(days=10))
    run_timers(app, NOW + timedelta(days=20))
    assert len(outbox(app, "feature_reminder")) == 2


# --- T4 (P8, P9) ----------------------------------------------------------------------------


def test_t4_warning_at_75_percent_then_breach_escalates_to_supervisors(app: App) -> None:
    number = _new(app, NOW)  # Wed 10:00, soporte/media: 40 business hours
    t = _ticket(app, number)
    due = datetime(2026, 11, 30, 18, 30, tzinfo=MX)  # Wed 9 h + Thu 10.5 + Fri 10.5 + Mon 10
    warn = datetime(2026, 11, 27, 19, 0, tzinfo=MX)  # 30 h used: Friday's closing time
    assert (t.sla_due_at, t.sla_warn_at) == (due, warn)
    assert run_timers(app, warn - US).actions == []
    report = run_timers(app, warn)
    assert [a.verb for a in report.actions] == ["warn"]
    assert [r.to_addr for r in outbox(app, "sla_warning")] == ["agente1@support.example"]
    assert "75" in email.message_from_bytes(outbox(app, "sla_warning")[0].raw)["Subject"]
    assert run_timers(app, due - US).actions == []
    report = run_timers(app, due)
    assert [a.verb for a in report.actions] == ["escalate"]
    assert sorted(r.to_addr for r in outbox(app, "sla_breach")) == [
        "agente1@support.example",
        "jefe@support.example",
    ]
    t = _ticket(app, number)
    assert t.sla_warned and t.sla_breached
    assert [e["action"] for e in _timer_events(app, number)] == ["sla_warning", "sla_breach"]
    # Internal mail never reaches the customer's transcript.
    with app.db.transaction() as s:
        kinds = s.scalars(select(Message.kind).where(Message.to_addrs == "jefe@support.example"))
        assert set(kinds) == {"note"}


def test_t4_sla_7x24_customer_wall_clock(app: App) -> None:
    created = datetime(2026, 11, 28, 10, 0, tzinfo=MX)  # a Saturday: 7x24 counts it
    number = _new(app, created, sender="gina@globex.example")
    t = _ticket(app, number)
    assert (t.sla_due_at, t.sla_warn_at) == (
        created + timedelta(hours=40),
        created + timedelta(hours=30),
    )
    assert run_timers(app, created + timedelta(hours=30) - US).actions == []
    assert [a.verb for a in run_timers(app, created + timedelta(hours=30)).actions] == ["warn"]
    assert [a.verb for a in run_timers(app, created + timedelta(hours=40)).actions] == ["escalate"]


def test_t4_unassigned_warning_goes_to_all_agents(app: App) -> None:
    number = _new(app, NOW)
    _set(app, number, assignee_id=None)
    run_timers(app, _ticket(app, number).sla_warn_at)
    assert sorted(r.to_addr for r in outbox(app, "sla_warning")) == [
        "agente1@support.example",
        "agente2@support.example",
    ]


# --- idempotence, catch-up, dry run ---------------------------------------------------------


def _everything_due(app: App) -> dict[str, int]:
    """One ticket for each timer, all due a week after NOW."""
    closing = _new(app, NOW, subject="cerrar")
    _resolve(app, closing, NOW)
    abandoned = _new(app, NOW - timedelta(days=40), subject="abandonar")
    _agent_answer(app, abandoned, NOW - timedelta(days=35))
    _set(app, abandoned, sla_due_at=None, sla_warn_at=None)
    feature = _feature(app, NOW - timedelta(days=2))
    sla = _new(app, NOW, subject="sla")
    return {"T1": closing, "T2": abandoned, "T3": feature, "T4": sla}


def test_timers_idempotent_same_instant(committee_app: App) -> None:
    app = committee_app
    _everything_due(app)
    at = NOW + timedelta(days=30)
    first = run_timers(app, at)
    assert {a.timer for a in first.actions} == {"T1", "T2", "T3", "T4"}
    before = _snapshot(app)
    second = run_timers(app, at)
    assert second.actions == [] and second.errors == []
    assert _snapshot(app) == before


def test_timers_catch_up_after_downtime_runs_once(committee_app: App) -> None:
    app = committee_app
    numbers = _everything_due(app)
    # Daemon down for a week+: at NOW + 30 days every action is overdue, some twice over.
    report = run_timers(app, NOW + timedelta(days=30))
    assert sorted((a.timer, a.verb, a.number) for a in report.actions) == sorted(
        [
            ("T1", "close", numbers["T1"]),
            ("T2", "abandon", numbers["T2"]),
            ("T3", "overdue", numbers["T3"]),  # day 8 overtaken by day 10: one mail each
            ("T4", "escalate", numbers["T4"]),  # warning overtaken by the breach: one mail
        ]
    )
    assert [e["day"] for e in _timer_events(app, numbers["T3"])] == [10]
    assert _timer_events(app, numbers["T3"])[0]["skipped"] == [8]
    assert _timer_events(app, numbers["T4"])[0]["warning_superseded"] is True
    assert outbox(app, "sla_warning") == []
    for later in (timedelta(days=30, minutes=2), timedelta(days=31)):
        assert run_timers(app, NOW + later).actions == []
    assert len(outbox(app, "closed")) == 1 and len(outbox(app, "abandoned")) == 1


def test_timers_dry_run_writes_nothing(committee_app: App, tmp_path: Path) -> None:
    app = committee_app
    _everything_due(app)
    before = _snapshot(app)
    maildir = tmp_path / "outbox"
    files_before = sorted(maildir.rglob("*")) if maildir.exists() else []
    report = run_timers(app, NOW + timedelta(days=30), dry_run=True)
    assert {a.timer for a in report.actions} == {"T1", "T2", "T3", "T4"}
    assert report.flush is None
    assert _snapshot(app) == before
    assert (sorted(maildir.rglob("*")) if maildir.exists() else []) == files_before
    real = run_timers(app, NOW + timedelta(days=30))
    assert [a.line() for a in real.actions] == [a.line() for a in report.actions]


def test_timers_flush_outbox_t5(app: App, tmp_path: Path) -> None:
    number = _new(app, NOW)
    _resolve(app, number, NOW)
    report = run_timers(app, NOW + timedelta(days=40))
    assert report.flush is not None and report.flush.sent == len(outbox(app))
    assert {r.state for r in outbox(app)} == {"sent"}
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == report.flush.sent


def test_timers_one_bad_ticket_does_not_stop_the_sweep(app: App, monkeypatch) -> None:
    import maildesk.timers.lifecycle as lifecycle

    good, bad = _new(app, NOW), _new(app, NOW, subject="malo")
    _resolve(app, good, NOW)
    _resolve(app, bad, NOW)
    real = lifecycle.transcript

    def failing(batch, t):
        if t.number == bad:
            raise RuntimeError("boom")
        return real(batch, t)

    monkeypatch.setattr(lifecycle, "transcript", failing)
    report = run_timers(app, NOW + timedelta(days=40))
    assert [a.number for a in report.actions] == [good]
    assert len(report.errors) == 1 and f"#{bad}" in report.errors[0]
    assert (_ticket(app, good).state, _ticket(app, bad).state) == ("closed", "resolved")


# --- CLI --------------------------------------------------------------------------------------


def _config_file(app: App, tmp_path: Path) -> Path:
    path = tmp_path / "maildesk.toml"
    path.write_text(
        f"""
[support]
address = "customerservice@support.example"
subject_prefix = "BITAM"
[database]
url = "{app.cfg.database.url}"
[inbound]
mode = "none"
[outbound]
mode = "maildir"
maildir = "{tmp_path / "outbox"}"
[[agents]]
email = "agente1@support.example"
name = "Agente Uno"
skills = ["soporte", "error"]
[escalation]
supervisors = ["jefe@support.example"]
""",
        encoding="utf-8",
    )
    return path


def test_cli_timers_run_now(app: App, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    number = _new(app, datetime(2026, 11, 5, 10, 0, tzinfo=MX))
    _resolve(app, number, datetime(2026, 11, 6, 12, 0, tzinfo=MX))
    config = str(_config_file(app, tmp_path))
    line = f"T1 close #{number} (resolved 2026-11-06 12:00, 15 business days passed)"

    assert main(["--config", config, "timers", "run", "--now", "2026-11-30T11:59:00-06:00"]) == 0
    out = capsys.readouterr().out
    assert "T1 close" not in out and "0 closed (T1)" in out

    args = ["--config", config, "timers", "run", "--now", "2026-11-30T12:00", "--dry-run"]
    assert main(args) == 0  # a naive --now is local business time
    out = capsys.readouterr().out.splitlines()
    assert out[0] == line and out[-2].startswith("dry run, nothing written:")
    assert out[-1].startswith("database: ") and out[-1].endswith("(dry run: nothing written)")
    assert _ticket(app, number).state is State.RESOLVED

    assert main(["--config", config, "timers", "run", "--now", "2026-11-30T18:00:00Z"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == line
    assert "1 closed (T1)" in out[-2] and "outbox sent" in out[-2]
    assert _ticket(app, number).state is State.CLOSED


# --- the T1 index bound (property) -----------------------------------------------------------

_BOUND_APP = App(config_from_dict({"database": {"url": "sqlite://"}}, "bound-test"))
_INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(resolved=_INSTANTS, now=_INSTANTS)
@settings(max_examples=300, deadline=None)
def test_p10_t1_window_start_never_misses_a_due_ticket(resolved: datetime, now: datetime) -> None:
    """Every ticket T1 must close passes the indexed `resolved_at < bound` filter, and the
    not-yet-due tickets the filter lets through all fall due later on `now`'s local day."""
    cal = _BOUND_APP.calendar
    bound = cal.window_start(now, 15)
    due = cal.add_business_days(resolved, 15)
    if due <= now:
        assert resolved < bound
    if resolved < bound - timedelta(hours=1):
        assert due.date() <= now.astimezone(cal.tz).date()
