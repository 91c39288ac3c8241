"""Issue 8 item 4, the committee can decide (P13, SPEC §10): the committee's shared address and
members who are not agents record `#viable yes|no [reason]` (`si|no`) under the agents'
authentication rule; the customer is told when the request goes to the committee, with the
date by which they will hear back; T3 tells the supervisors when day 10 passes with no
decision. Through `accept` and the timers, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import timedelta
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind, Outcome, Refusal
from maildesk.registry import import_registry_file
from maildesk.store.models import Event, Message, Outbox, Ticket
from maildesk.timers import run_timers
from tests.helpers import NOW, make_mail, outbox

AGENT = "agente1@support.example"  # the assignee P7 picks for a new soporte ticket
COMMITTEE = "comite@support.example"
MEMBER = "producto@support.example"  # a committee member who is not an agent
SOURCE = "imap:support/INBOX/1:1"
PASS = (
    "mx.support.example; dkim=pass header.d=support.example; dmarc=pass header.from=support.example"
)


@pytest.fixture
def make_committee_app(make_app: Callable[..., App], registry_file: Path) -> Callable[..., App]:
    def build(**sections: object) -> App:
        committee = {"address": COMMITTEE, "members": [MEMBER]}
        app = make_app(committee=sections.pop("committee", committee), **sections)
        import_registry_file(app.db, registry_file)
        return app

    return build


@pytest.fixture
def capp(make_committee_app: Callable[..., App]) -> App:
    return make_committee_app()


def _text(row: Outbox) -> str:
    return email.message_from_bytes(row.raw, policy=default).get_body(("plain",)).get_content()


def _feature_request(app: App) -> int:
    """A customer asks for a feature; the agent classifies it as one and answers."""
    out = accept(
        app, make_mail(subject="Exportar a Excel", message_id="<c1@acme.example>"), "t", NOW
    )
    assert out.ticket_number is not None
    number = out.ticket_number
    (note,) = [r for r in outbox(app, "agent_notification") if r.ticket_number == number]
    raw = make_mail(
        sender=AGENT,
        subject=f"Re: [BITAM #{number}] Exportar a Excel",
        body="#tipo nuevo_requerimiento\nHola Ana, lo turnamos al comité.",
        in_reply_to=f"<{note.message_id}>",
    )
    assert accept(app, raw, SOURCE, NOW + timedelta(minutes=5)).kind is Kind.FOLLOWED_UP
    return number


def _committee_answers(
    app: App, number: int, body: str, sender: str = MEMBER, headers: dict[str, str] | None = None
) -> Outcome:
    (forward,) = [r for r in outbox(app, "feature_committee") if r.ticket_number == number][:1]
    raw = make_mail(
        sender=sender,
        subject=f"Re: [BITAM #{number}] Nuevo requerimiento: Exportar a Excel",
        body=body,
        in_reply_to=f"<{forward.message_id}>",
        headers=headers,
    )
    return accept(app, raw, SOURCE, NOW + timedelta(days=2))


def _ticket(app: App, number: int) -> Ticket:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        return t


def test_item4_customer_is_told_the_request_went_to_the_committee_and_by_when(capp: App) -> None:
    _feature_request(capp)
    (forward,) = outbox(capp, "feature_committee")
    assert forward.to_addr == COMMITTEE
    (told,) = outbox(capp, "feature_forwarded")
    assert told.to_addr == "ana@acme.example"
    # 10 days from Wednesday 25 November 2026, 10:05 (hora del centro), in words.
    assert "sábado 5 de diciembre de 2026" in " ".join(_text(told).split())
    # After the agent's own answer, in the customer's thread.
    ids = [r.id for r in outbox(capp) if r.to_addr == "ana@acme.example"]
    assert ids.index(told.id) > ids.index(outbox(capp, "agent_reply")[0].id)


def test_item4_member_who_is_not_an_agent_decides_viable_si(capp: App) -> None:
    number = _feature_request(capp)
    out = _committee_answers(capp, number, "#viable si Entra en la versión 5.3\nGracias, Pedro")
    assert out.kind is Kind.FOLLOWED_UP and out.reason == "committee decision recorded"
    t = _ticket(capp, number)
    assert t.viable == "yes"
    (decision,) = outbox(capp, "feature_decision")
    assert decision.to_addr == "ana@acme.example" and decision.author == MEMBER
    text = _text(decision)
    assert "viable" in text and "Entra en la versión 5.3" in text
    assert "Pedro" not in text  # the committee's words are not relayed
    assert len(outbox(capp, "agent_reply")) == 1  # only the agent's earlier answer
    told = [r for r in outbox(capp, "agent_notification") if r.to_addr == AGENT]
    assert "comité" in _text(told[-1]) and "#viable si" in _text(told[-1])
    with capp.db.transaction() as s:
        decided = s.scalars(select(Event).where(Event.kind == "feature_decision")).one()
        assert (decided.actor, decided.detail["viable"]) == (MEMBER, "yes")
        note = s.scalars(select(Message).where(Message.from_addr == MEMBER)).one()
        assert (note.kind, note.public) == ("note", False)
    # The decision stops T3.
    run_timers(capp, NOW + timedelta(days=11))
    assert outbox(capp, "feature_reminder") == []


def test_item4_shared_address_decides_viable_no(capp: App) -> None:
    number = _feature_request(capp)
    out = _committee_answers(capp, number, "#viable no: no es viable por ahora", sender=COMMITTEE)
    assert out.reason == "committee decision recorded"
    assert _ticket(capp, number).viable == "no"
    (decision,) = outbox(capp, "feature_decision")
    assert "no se incluirá" in _text(decision)


def test_item4_committee_needs_the_agents_authentication(
    make_committee_app: Callable[..., App],
) -> None:
    app = make_committee_app(security={"trusted_authserv_ids": ["mx.support.example"]})
    number = _feature_request_authenticated(app)
    forged = {"Authentication-Results": PASS.replace("mx.support.example", "evil.example")}
    out = _committee_answers(app, number, "#viable si", headers=forged)
    assert out.kind is Kind.REJECTED and out.refusal is Refusal.UNAUTHENTICATED
    (refusal,) = outbox(app, "agent_unauthenticated")
    assert refusal.to_addr == MEMBER
    assert _ticket(app, number).viable is None and outbox(app, "feature_decision") == []
    out = _committee_answers(app, number, "#viable si", headers={"Authentication-Results": PASS})
    assert out.reason == "committee decision recorded" and _ticket(app, number).viable == "yes"


def _feature_request_authenticated(app: App) -> int:
    out = accept(
        app, make_mail(subject="Exportar a Excel", message_id="<c1@acme.example>"), "t", NOW
    )
    assert out.ticket_number is not None
    (note,) = outbox(app, "agent_notification")
    raw = make_mail(
        sender=AGENT,
        subject=f"Re: [BITAM #{out.ticket_number}] Exportar a Excel",
        body="#tipo nuevo_requerimiento",
        in_reply_to=f"<{note.message_id}>",
        headers={"Authentication-Results": PASS},
    )
    assert accept(app, raw, SOURCE, NOW).reason == "agent commands applied"
    return out.ticket_number


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("#priority alta\n#viable si", "the committee records decisions only"),
        ("#resolve", "the committee records decisions only"),
        ("#viable quizá", "#viable needs yes, no, si"),
    ],
)
def test_item4_committee_commands_other_than_viable_refuse_the_whole_mail(
    capp: App, body: str, needle: str
) -> None:
    number = _feature_request(capp)
    out = _committee_answers(capp, number, body)
    assert out.kind is Kind.FOLLOWED_UP and "rejected" in out.reason
    (error,) = outbox(capp, "agent_command_error")
    assert error.to_addr == MEMBER and needle in _text(error)
    t = _ticket(capp, number)
    assert (t.viable, t.priority, t.state) == (None, "media", "open")
    assert outbox(capp, "feature_decision") == []


def test_item4_viable_on_a_ticket_that_is_no_feature_request_is_refused(capp: App) -> None:
    out = accept(capp, make_mail(message_id="<c9@acme.example>"), "t", NOW)
    raw = make_mail(sender=MEMBER, subject=f"Re: [BITAM #{out.ticket_number}] x", body="#viable si")
    refused = accept(capp, raw, SOURCE, NOW + timedelta(hours=1))
    assert "rejected" in refused.reason
    assert "#viable applies only to nuevo_requerimiento" in _text(
        outbox(capp, "agent_command_error")[0]
    )


def test_item4_committee_question_is_kept_internal_and_reaches_the_agent(capp: App) -> None:
    number = _feature_request(capp)
    out = _committee_answers(capp, number, "¿Qué volumen de datos exportan al mes?")
    assert (out.kind, out.reason) == (Kind.FOLLOWED_UP, "committee note")
    customer = [r for r in outbox(capp) if r.to_addr == "ana@acme.example"]
    assert [r.template for r in customer] == ["acknowledgement", "agent_reply", "feature_forwarded"]
    told = [r for r in outbox(capp, "agent_notification") if r.to_addr == AGENT]
    assert "volumen de datos" in _text(told[-1])


def test_item4_members_receive_the_forward_without_a_shared_address(
    make_committee_app: Callable[..., App],
) -> None:
    app = make_committee_app(committee={"members": [MEMBER, "cto@support.example"]})
    _feature_request(app)
    assert sorted(r.to_addr for r in outbox(app, "feature_committee")) == [
        "cto@support.example",
        MEMBER,
    ]


def test_item4_member_writing_about_no_ticket_is_staff_never_rejected(capp: App) -> None:
    out = accept(capp, make_mail(sender=MEMBER, subject="Agenda del comité"), SOURCE, NOW)
    assert out.kind is Kind.IGNORED and "staff" in out.reason
    assert outbox(capp) == []


def test_item4_t3_tells_the_supervisors_when_day_10_passes_without_decision(capp: App) -> None:
    number = _feature_request(capp)
    typed = _ticket(capp, number).type_set_at
    run_timers(capp, typed + timedelta(days=8))
    assert sorted(r.to_addr for r in outbox(capp, "feature_reminder")) == [AGENT, COMMITTEE]
    run_timers(capp, typed + timedelta(days=10) - timedelta(minutes=1))
    assert len(outbox(capp, "feature_reminder")) == 2  # not before the deadline
    report = run_timers(capp, typed + timedelta(days=10))
    assert [a.verb for a in report.actions] == ["overdue"]
    late = [r for r in outbox(capp, "feature_reminder")][2:]
    assert sorted(r.to_addr for r in late) == [AGENT, COMMITTEE, "jefe@support.example"]
    assert "supervisores" in _text(late[0])
    assert run_timers(capp, typed + timedelta(days=20)).actions == []  # once
