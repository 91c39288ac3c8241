"""Agents by e-mail (SPEC §4; P7, P8, P13, P14, P15): commands, relaying, sender
authentication, end to end through pipeline.accept on SQLite and PostgreSQL."""

from __future__ import annotations

import email
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.domain.lifecycle import State
from maildesk.domain.sla import Priority, TicketType
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind, Outcome, Refusal
from maildesk.pipeline.tickets import transition
from maildesk.registry import import_registry_file
from maildesk.store.models import Message, Outbox, Ticket
from maildesk.views import ticket_detail
from tests.helpers import NOW, make_mail, outbox

AGENT = "agente1@support.example"
AGENT2 = "agente2@support.example"
LATER = NOW + timedelta(hours=1)
QUOTE = (
    "\nEl mié, 25 nov 2026 a las 10:00, Soporte <customerservice@support.example> escribió:\n"
    "> Nuevo ticket [BITAM #1]\n> Hola, el reporte de ventas marca error 500.\n"
)


def _open(app: App, subject: str = "El reporte de ventas no carga", n: int = 1) -> int:
    out = accept(app, make_mail(subject=subject, message_id=f"<c{n}@acme.example>"), "t", NOW)
    assert out.kind is Kind.TICKETED and out.ticket_number is not None
    return out.ticket_number


def _notification_id(app: App, number: int) -> str:
    rows = [r for r in outbox(app, "agent_notification") if r.ticket_number == number]
    return rows[-1].message_id


def _reply(
    app: App,
    number: int,
    body: str,
    sender: str = AGENT,
    when=LATER,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> Outcome:
    """An agent answers the notification of ticket `number` from their mail client."""
    nid = _notification_id(app, number)
    raw = make_mail(
        sender=sender,
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body=body,
        in_reply_to=f"<{nid}>",
        references=f"<{nid}>",
        headers=headers,
        attachments=attachments,
    )
    # As the IMAP consumer hands it over: the mailbox server's MTA was the receiving hop, so
    # the Authentication-Results it wrote on top count (SPEC §10).
    return accept(app, raw, "imap:support/INBOX/1:1", when)


def _ticket(app: App, number: int) -> Ticket:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        _ = (t.assignee, t.requester)
        return t


def _text(row: Outbox) -> str:
    msg = email.message_from_bytes(row.raw, policy=default)
    return msg.get_body(("plain",)).get_content()


def _headers(row: Outbox) -> EmailMessage:
    return email.message_from_bytes(row.raw, policy=default)


def _events(app: App, number: int) -> list[str]:
    return [e["kind"] for e in ticket_detail(app, number)["events"]]


def _assert_rejected(app: App, number: int, out: Outcome, *needles: str) -> None:
    """§4 all or nothing: an error mail to the agent naming the problem, nothing sent out."""
    assert out.kind is Kind.FOLLOWED_UP and "rejected" in out.reason
    (err,) = outbox(app, "agent_command_error")
    assert err.to_addr == AGENT
    text = _text(err)
    for needle in needles:
        assert needle in text
    assert "agent_command_rejected" in _events(app, number)
    assert outbox(app, "agent_reply") == []


# --- relaying (§4) ---------------------------------------------------------------------------


def test_s4_relay_answer_stripped_threaded_from_support_without_auto_submitted(app: App) -> None:
    number = _open(app)
    body = (
        "#priority alta\n\nHola Ana, ya corregimos el reporte. Inténtalo de nuevo.\n\n"
        "Saludos,\nAgente Uno\n" + QUOTE
    )
    sent_before = {r.id for r in outbox(app)}
    out = _reply(app, number, body)
    assert out.kind is Kind.FOLLOWED_UP and out.reason == "agent answer relayed"
    new = [r for r in outbox(app) if r.id not in sent_before]
    (relay,) = new  # the agent gets no echo; nothing else goes out
    assert relay.template == "agent_reply" and relay.to_addr == "ana@acme.example"
    assert relay.automatic is False
    h = _headers(relay)
    assert h["From"].addresses[0].addr_spec == "customerservice@support.example"
    assert h["Subject"] == "[BITAM #1] El reporte de ventas no carga"
    assert h["Auto-Submitted"] is None and h["X-Auto-Response-Suppress"] is None
    assert h["In-Reply-To"] == "<c1@acme.example>"
    assert "<c1@acme.example>" in h["References"]
    assert app.our_ticket_ref(h["Message-ID"].strip("<>")) == number
    text = _text(relay)
    assert "ya corregimos el reporte" in text and "Saludos," in text
    assert "#priority" not in text
    assert "escribió" not in text and "error 500" not in text  # quoted history gone
    assert text.count("Agente Uno") == 1  # the template signs; the typed name was removed
    t = _ticket(app, number)
    assert t.priority is Priority.HIGH and t.last_agent_public_at == LATER


def test_s4_relay_threads_to_customers_last_message_and_removes_dash_signature(app: App) -> None:
    number = _open(app)
    follow = make_mail(
        subject="Re: [BITAM #1] El reporte",
        body="Sigue fallando.\n",
        message_id="<c2@acme.example>",
    )
    assert accept(app, follow, "t", NOW + timedelta(minutes=5)).kind is Kind.FOLLOWED_UP
    _reply(app, number, "Reinicia el servicio, por favor.\n-- \nAgente Uno\nTel. 555 0101\n")
    (relay,) = outbox(app, "agent_reply")
    assert _headers(relay)["In-Reply-To"] == "<c2@acme.example>"
    text = _text(relay)
    assert "Reinicia el servicio" in text and "555 0101" not in text


def test_s4_relay_stores_answer_once_and_keeps_agent_mail_private(app: App) -> None:
    number = _open(app)
    _reply(
        app,
        number,
        "#type error\nRespuesta visible.\n",
        attachments=[
            ("parche.txt", "text/plain", b"fix"),
        ],
    )
    msgs = ticket_detail(app, number)["messages"]
    inbound_agent = [m for m in msgs if m["direction"] == "in" and m["kind"] == "agent"]
    outbound_agent = [m for m in msgs if m["direction"] == "out" and m["kind"] == "agent"]
    assert [m["body"] for m in inbound_agent] == ["#type error"]
    assert len(outbound_agent) == 1 and "Respuesta visible." in outbound_agent[0]["body"]
    assert [a["filename"] for a in outbound_agent[0]["attachments"]] == ["parche.txt"]
    (relay,) = outbox(app, "agent_reply")
    parts = [p.get_filename() for p in _headers(relay).iter_attachments()]
    assert parts == ["parche.txt"]
    with app.db.transaction() as s:
        row = s.scalar(select(Message).where(Message.direction == "in", Message.kind == "agent"))
        assert row.public is False and row.raw_sha256 and "Respuesta visible." in row.full_text


def test_s4_agent_answer_takes_unassigned_ticket(make_app, registry_file) -> None:
    app = make_app(
        agents=[
            {"email": AGENT, "name": "Agente Uno", "skills": ["error"]},
        ]
    )
    import_registry_file(app.db, registry_file)
    number = _open(app)
    assert _ticket(app, number).assignee is None  # nobody skilled in soporte
    _reply(app, number, "Lo reviso yo.\n")
    assert _ticket(app, number).assignee.email == AGENT


def test_s4_commands_only_relay_nothing(app: App) -> None:
    number = _open(app)
    out = _reply(app, number, "#priority baja\n" + QUOTE)
    assert out.reason == "agent commands applied"
    assert outbox(app, "agent_reply") == []


def test_s4_invalid_command_applies_nothing_and_relays_nothing(app: App) -> None:
    number = _open(app)
    before = _ticket(app, number)
    out = _reply(app, number, "#priority urgente\n#bogus x\n#resolve\n\nYa quedó.\n")
    _assert_rejected(app, number, out, "#bogus", "urgente")
    t = _ticket(app, number)
    assert (t.priority, t.state, t.sla_due_at) == ("media", "open", before.sla_due_at)
    assert outbox(app, "resolved") == []
    msgs = ticket_detail(app, number)["messages"]
    (kept,) = [m for m in msgs if m["from"] == AGENT]
    assert kept["kind"] == "note" and "Ya quedó." in kept["body"]  # nothing lost


def test_s4_no_ticket_reference_answered_with_error(app: App) -> None:
    raw = make_mail(sender=AGENT, subject="Hola", body="Una pregunta suelta.\n")
    out = accept(app, raw, "t", NOW)
    assert out.kind is Kind.IGNORED and out.reason == "agent mail without a ticket reference"
    (err,) = outbox(app, "agent_command_error")
    assert err.to_addr == AGENT and "#new" in _text(err)


# --- #type / #priority (P7, P8) -------------------------------------------------------------


@pytest.mark.parametrize("line", ["#type error", "#tipo Error", "#TYPE: error"])
def test_p7_type_command_and_alias(app: App, line: str) -> None:
    number = _open(app)
    _reply(app, number, f"{line}\n")
    t = _ticket(app, number)
    assert (t.type, t.unclassified, t.type_set_at) == ("error", False, LATER)
    assert "type" in _events(app, number)


def test_p7_type_invalid(app: App) -> None:
    number = _open(app)
    out = _reply(app, number, "#type hardware\n")
    _assert_rejected(app, number, out, "hardware")
    assert _ticket(app, number).type is TicketType.SUPPORT


@pytest.mark.parametrize("line", ["#priority alta", "#prioridad Alta", "#priority high"])
def test_p7_priority_command_and_alias(app: App, line: str) -> None:
    number = _open(app)
    _reply(app, number, f"{line}\n")
    t = _ticket(app, number)
    assert (t.priority, t.unclassified) == ("alta", False)


def test_p7_priority_invalid(app: App) -> None:
    number = _open(app)
    _assert_rejected(app, number, _reply(app, number, "#priority ya\n"), "priority")


def test_p8_sla_recomputed_on_priority_change(app: App) -> None:
    number = _open(app)  # Wed 10:00 local, soporte/media: 40 h of 10.5 h days
    assert ticket_detail(app, number)["sla_due_at"] == "2026-11-30T18:30:00-06:00"
    _reply(app, number, "#priority urgente\n")
    # 4 business hours from created_at (not from the command): same day 14:00
    assert ticket_detail(app, number)["sla_due_at"] == "2026-11-25T14:00:00-06:00"
    _reply(app, number, "#type nuevo_requerimiento\n", when=LATER + timedelta(minutes=1))
    assert ticket_detail(app, number)["sla_due_at"] is None  # no SLA for features (P8)


# --- #assign (P7) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", [f"#assign {AGENT2}", "#assign agente dos", "#asignar AGENTE2@support.example"]
)
def test_p7_assign_by_address_or_name_and_alias(app: App, line: str) -> None:
    number = _open(app)
    assert _ticket(app, number).assignee.email == AGENT
    _reply(app, number, f"{line}\nTe paso con mi colega.\n")
    assert _ticket(app, number).assignee.email == AGENT2  # #assign beats "answering takes it"


def test_p7_assign_unknown_agent(app: App) -> None:
    number = _open(app)
    _assert_rejected(app, number, _reply(app, number, "#assign nadie\n"), "nadie")


def test_p7_auto_assign_least_loaded_with_skill(make_app, registry_file) -> None:
    app = make_app(
        agents=[
            {"email": "err@support.example", "name": "Err", "skills": ["error"]},
            {"email": "s1@support.example", "name": "S1", "skills": ["soporte"]},
            {"email": "s2@support.example", "name": "S2", "skills": ["soporte", "error"]},
        ]
    )
    import_registry_file(app.db, registry_file)
    got = [_ticket(app, _open(app, f"tema {i}", i)).assignee.email for i in range(1, 5)]
    # "err" lacks the soporte skill; the other two alternate as their loads grow
    assert got == ["s1@support.example", "s2@support.example"] * 2


def test_p7_auto_assign_ties_go_to_longest_idle(make_app, registry_file) -> None:
    app = make_app(
        agents=[
            {"email": "s1@support.example", "name": "S1", "skills": ["soporte"]},
            {"email": "s2@support.example", "name": "S2", "skills": ["soporte"]},
        ]
    )
    import_registry_file(app.db, registry_file)
    first = _open(app, "uno", 1)  # s1 (both never assigned: lowest id)
    second = _open(app, "dos", 2)  # s2 (least loaded)
    with app.db.transaction() as s:
        transition(s, s.get(Ticket, first), "resolved", LATER, "test")
    # loads s1 0 / s2 1 -> s1; then the loads tie at 1 / 1 and s2 has been idle longer
    third = accept(app, make_mail(subject="tres", message_id="<c3@acme.example>"), "t", LATER)
    fourth = accept(
        app,
        make_mail(subject="cuatro", message_id="<c4@acme.example>"),
        "t",
        LATER + timedelta(minutes=1),
    )
    assert _ticket(app, second).assignee.email == "s2@support.example"
    assert _ticket(app, third.ticket_number).assignee.email == "s1@support.example"
    assert _ticket(app, fourth.ticket_number).assignee.email == "s2@support.example"


def test_p7_type_on_unassigned_ticket_auto_assigns_by_new_skill(make_app, registry_file) -> None:
    app = make_app(
        agents=[
            {"email": AGENT, "name": "Agente Uno", "skills": ["error"]},
            {"email": AGENT2, "name": "Agente Dos", "skills": ["actividad"]},
        ]
    )
    import_registry_file(app.db, registry_file)
    number = _open(app)
    assert _ticket(app, number).assignee is None
    _reply(app, number, "#type actividad\n")  # no answer: the skill decides, not the sender
    assert _ticket(app, number).assignee.email == AGENT2


# --- #product (P5, P15) ---------------------------------------------------------------------


@pytest.mark.parametrize("line", ["#product bVentor 2.0", "#producto bventor 2.0"])
def test_p15_product_command_and_alias(app: App, line: str) -> None:
    number = _open(app)
    _reply(app, number, f"{line}\n")
    t = _ticket(app, number)
    assert (t.product, t.product_version, t.unsupported_version) == ("bVentor", "2.0", False)
    assert outbox(app, "unsupported_version") == []


def test_p15_product_unsupported_version_flagged_and_noticed(app: App) -> None:
    number = _open(app)
    _reply(app, number, "#product bFiskur 5.0\n")
    t = _ticket(app, number)
    assert t.unsupported_version is True
    (notice,) = outbox(app, "unsupported_version")
    assert notice.to_addr == "ana@acme.example" and "5.0" in _text(notice)


def test_p15_product_without_version_uses_customers_version(app: App) -> None:
    number = _open(app)
    _reply(app, number, "#product bfiskur\n")
    assert _ticket(app, number).product_version == "5.2"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("#product bNada", "bNada"),
        ("#product bFiskur 4.9", "4.9"),
    ],
)
def test_p15_product_invalid(app: App, line: str, needle: str) -> None:
    number = _open(app)
    _assert_rejected(app, number, _reply(app, number, f"{line}\n"), needle)


# --- #resolve / #close (P6, P10, P11) -------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["#resolve se reinició el servicio", "#resuelto se reinició el servicio"]
)
def test_p6_resolve_command_and_alias(app: App, line: str) -> None:
    number = _open(app)
    _reply(app, number, f"{line}\nListo, ya funciona.\n")
    t = _ticket(app, number)
    assert (t.state, t.resolution_reason, t.resolved_at) == (
        "resolved",
        "se reinició el servicio",
        LATER,
    )
    relay, resolved = [r for r in outbox(app) if r.to_addr == "ana@acme.example"][-2:]
    assert (relay.template, resolved.template) == ("agent_reply", "resolved")  # answer first
    assert "15" in _text(resolved)
    assert _headers(resolved)["In-Reply-To"] == "<c1@acme.example>"


def test_p6_resolve_invalid_on_resolved_ticket(app: App) -> None:
    number = _open(app)
    _reply(app, number, "#resolve\n")
    out = _reply(app, number, "#resolve\n", when=LATER + timedelta(minutes=1))
    assert out.kind is Kind.FOLLOWED_UP and "rejected" in out.reason
    (err,) = outbox(app, "agent_command_error")
    assert "cannot go from resolved to resolved" in _text(err)


@pytest.mark.parametrize("line", ["#close", "#cerrar"])
def test_p6_close_command_sends_transcript(app: App, line: str) -> None:
    number = _open(app)
    _reply(app, number, "#note\nSolo interno: cliente difícil.\n")
    _reply(app, number, f"{line}\nCerramos el ticket, gracias.\n", when=LATER + timedelta(1))
    t = _ticket(app, number)
    assert t.state is State.CLOSED and t.closed_at == LATER + timedelta(1)
    (closed,) = outbox(app, "closed")
    (part,) = list(_headers(closed).iter_attachments())
    assert part.get_filename() == f"ticket-{number}.txt"
    transcript = part.get_content()
    assert "error 500" in transcript and "Cerramos el ticket" in transcript
    assert "cliente difícil" not in transcript  # internal notes stay internal


def test_p11_commands_and_answers_on_closed_ticket_refused(app: App) -> None:
    number = _open(app)
    _reply(app, number, "#close\n")
    out = _reply(app, number, "#priority alta\nOtra cosa.\n", when=LATER + timedelta(1))
    _assert_rejected(app, number, out, "closed")
    assert _ticket(app, number).priority is Priority.MEDIUM


# --- #note ----------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["#note", "#nota"])
def test_s4_note_is_internal_and_not_relayed(app: App, line: str) -> None:
    number = _open(app)
    out = _reply(app, number, f"{line}\n#priority alta\nEl cliente usa una versión vieja.\n")
    assert out.reason == "internal note"
    assert outbox(app, "agent_reply") == []
    assert _ticket(app, number).priority is Priority.HIGH  # other commands still apply
    (note,) = [m for m in ticket_detail(app, number)["messages"] if m["kind"] == "note"]
    assert note["body"].startswith("El cliente usa una versión vieja.")


def test_s4_note_with_arguments_invalid(app: App) -> None:
    number = _open(app)
    _assert_rejected(app, number, _reply(app, number, "#note hola\n"), "#note")


# --- #out-of-scope (P15) --------------------------------------------------------------------


def test_p15_out_of_scope_notice_and_resolve(make_app, registry_file) -> None:
    app = make_app(support={"consulting": "consultoria@bitam.example"})
    import_registry_file(app.db, registry_file)
    number = _open(app)
    out = _reply(app, number, "#out-of-scope depuración de macros de Excel del cliente\n")
    assert out.kind is Kind.FOLLOWED_UP
    (notice,) = outbox(app, "out_of_scope")
    text = _text(notice)
    assert notice.to_addr == "ana@acme.example"
    assert "depuración de macros" in text and "consultoria@bitam.example" in text
    t = _ticket(app, number)
    assert t.state is State.RESOLVED and "depuración de macros" in t.resolution_reason
    assert outbox(app, "resolved") == []  # the out_of_scope notice says it is resolved


def test_p15_out_of_scope_alias_and_missing_reason(app: App) -> None:
    number = _open(app)
    _assert_rejected(app, number, _reply(app, number, "#out-of-scope\n"), "reason")
    other = _open(app, "otro", 2)
    _reply(app, other, "#fuera-de-alcance es un producto de terceros\n")
    assert _ticket(app, other).state is State.RESOLVED


# --- #type nuevo_requerimiento and #viable (P13) --------------------------------------------


def test_p13_feature_request_forwarded_to_committee(make_app, registry_file) -> None:
    app = make_app(committee={"address": "comite@support.example"})
    import_registry_file(app.db, registry_file)
    number = _open(app)
    _reply(app, number, "#type nuevo_requerimiento\n")
    (fwd,) = outbox(app, "feature_committee")
    assert fwd.to_addr == "comite@support.example"
    assert "error 500" in _text(fwd) and "#viable" in _text(fwd)
    assert _headers(fwd)["Reply-To"] == "customerservice@support.example"
    t = _ticket(app, number)
    assert (t.type, t.type_set_at, t.sla_due_at) == ("nuevo_requerimiento", LATER, None)
    assert "forwarded_to_committee" in _events(app, number)
    # the forward is internal: not in the customer's history
    assert all(
        m["kind"] != "notice" or "comite" not in m["to"]
        for m in ticket_detail(app, number)["messages"]
    )


@pytest.mark.parametrize(
    ("line", "viable"),
    [
        ("#viable yes se incluirá en la 5.3", "yes"),
        ("#viable sí", "yes"),
        ("#viable no costoso", "no"),
    ],
)
def test_p13_viable_decision_mailed_to_customer(make_app, registry_file, line, viable) -> None:
    app = make_app(committee={"address": "comite@support.example"})
    import_registry_file(app.db, registry_file)
    number = _open(app)
    _reply(app, number, f"#type nuevo_requerimiento\n{line}\n")
    assert _ticket(app, number).viable == viable
    (decision,) = outbox(app, "feature_decision")
    assert decision.to_addr == "ana@acme.example"
    assert "feature_decision" in _events(app, number)


def test_p13_viable_only_on_feature_requests(app: App) -> None:
    number = _open(app)
    _assert_rejected(app, number, _reply(app, number, "#viable yes\n"), "nuevo_requerimiento")
    _reply(app, number, "#viable quizás\n", when=LATER + timedelta(1))
    assert len(outbox(app, "agent_command_error")) == 2
    assert _ticket(app, number).viable is None


def test_p13_committee_agent_reply_records_decision(make_app, registry_file) -> None:
    app = make_app(committee={"address": "comite@support.example"})
    import_registry_file(app.db, registry_file)
    number = _open(app)
    _reply(app, number, "#type nuevo_requerimiento\n")
    (fwd,) = outbox(app, "feature_committee")
    answer = make_mail(
        sender=AGENT2,
        subject=f"Re: {_headers(fwd)['Subject']}",
        body="#viable no\n",
        in_reply_to=f"<{fwd.message_id}>",
    )
    assert accept(app, answer, "t", LATER + timedelta(1)).ticket_number == number
    assert _ticket(app, number).viable == "no"


# --- #new (P14) -----------------------------------------------------------------------------


def _new_mail(body: str, sender: str = AGENT) -> bytes:
    return make_mail(sender=sender, subject="Llamada: no imprime facturas", body=body)


@pytest.mark.parametrize("line", ["#new luis@acme.example", "#nuevo <Luis@ACME.example>"])
def test_p14_new_on_behalf_of_customer(app: App, line: str) -> None:
    body = (
        f"{line}\n#priority alta\n\nLuis llamó: no imprime facturas desde ayer.\n-- \nAgente Uno\n"
    )
    out = accept(app, _new_mail(body), "t", NOW)
    assert out.kind is Kind.TICKETED and "P14" in out.reason
    t = ticket_detail(app, out.ticket_number)
    assert (t["requester"], t["customer"], t["assignee"], t["priority"]) == (
        "luis@acme.example",
        "acme",
        AGENT,
        "alta",
    )
    assert t["subject"] == "Llamada: no imprime facturas"
    (first,) = t["messages"][:1]
    assert first["body"] == "Luis llamó: no imprime facturas desde ayer."
    (ack,) = outbox(app, "acknowledgement")
    assert ack.to_addr == "luis@acme.example" and str(out.ticket_number) in _text(ack)
    assert outbox(app, "agent_notification") == []  # the author needs no notification
    assert outbox(app, "agent_reply") == []


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("#new nadie@acme.example", "not a registered"),
        ("#new otto@oldco.example", "contract"),
        ("#new no-es-direccion", "address"),
    ],
)
def test_p14_new_invalid(app: App, line: str, needle: str) -> None:
    out = accept(app, _new_mail(f"{line}\nPide ayuda.\n"), "t", NOW)
    assert out.kind is Kind.IGNORED
    (err,) = outbox(app, "agent_command_error")
    assert needle in _text(err)
    assert ticket_detail(app, 1) is None and outbox(app, "acknowledgement") == []


def test_p14_new_inside_a_reply_refused(app: App) -> None:
    number = _open(app)
    out = _reply(app, number, "#new luis@acme.example\nOtro tema.\n")
    _assert_rejected(app, number, out, "#new")


def test_p13_p14_new_feature_request_forwarded(make_app, registry_file) -> None:
    app = make_app(committee={"address": "comite@support.example"})
    import_registry_file(app.db, registry_file)
    body = "#new ana@acme.example\n#type nuevo_requerimiento\nQuieren exportar a XML.\n"
    out = accept(app, _new_mail(body), "t", NOW)
    (fwd,) = outbox(app, "feature_committee")
    assert fwd.ticket_number == out.ticket_number and "exportar a XML" in _text(fwd)


# --- sender authentication (§4) --------------------------------------------------------------


@pytest.fixture
def secure_app(make_app, registry_file) -> App:
    app = make_app(security={"trusted_authserv_ids": ["mx.support.example"]})
    import_registry_file(app.db, registry_file)
    return app


def _assert_refused(app: App, number: int, out: Outcome) -> None:
    assert out.kind is Kind.REJECTED and out.refusal is Refusal.UNAUTHENTICATED
    (notice,) = outbox(app, "agent_unauthenticated")
    assert notice.to_addr == AGENT
    assert outbox(app, "agent_reply") == [] and outbox(app, "resolved") == []
    t = _ticket(app, number)
    assert (t.state, t.priority) == ("open", "media")
    assert "agent_unauthenticated" in _events(app, number)


def test_s4_dmarc_fail_refused(secure_app: App) -> None:
    number = _open(secure_app)
    ar = (
        "mx.support.example; spf=fail smtp.mailfrom=support.example; "
        "dmarc=fail header.from=support.example"
    )
    out = _reply(
        secure_app,
        number,
        "#priority urgente\n#resolve\nListo.\n",
        headers={"Authentication-Results": ar},
    )
    _assert_refused(secure_app, number, out)
    assert "dmarc=fail" in out.reason


def test_s4_pass_from_untrusted_authserv_refused(secure_app: App) -> None:
    number = _open(secure_app)
    ar = "evil.example; dkim=pass header.d=support.example; dmarc=pass header.from=support.example"
    out = _reply(secure_app, number, "#resolve\nListo.\n", headers={"Authentication-Results": ar})
    _assert_refused(secure_app, number, out)


def test_s4_missing_authentication_results_refused(secure_app: App) -> None:
    number = _open(secure_app)
    _assert_refused(secure_app, number, _reply(secure_app, number, "#resolve\n"))


def test_s4_dmarc_pass_from_trusted_authserv_accepted(secure_app: App) -> None:
    number = _open(secure_app)
    ar = (
        "mx.support.example; dkim=pass header.d=support.example; "
        "dmarc=pass header.from=support.example"
    )
    out = _reply(
        secure_app, number, "#priority alta\nYa quedó.\n", headers={"Authentication-Results": ar}
    )
    assert out.kind is Kind.FOLLOWED_UP and out.reason == "agent answer relayed"
    assert _ticket(secure_app, number).priority is Priority.HIGH
    assert len(outbox(secure_app, "agent_reply")) == 1


def test_s4_customer_hash_lines_never_commands(app: App) -> None:
    number = _open(app)
    follow = make_mail(subject="Re: [BITAM #1] El reporte", body="#resolve\n#priority urgente\n")
    accept(app, follow, "t", LATER)
    t = _ticket(app, number)
    assert (t.state, t.priority) == ("open", "media")


def test_p13_new_ticket_created_with_feature_type_forwarded(make_app, registry_file) -> None:
    app = make_app(
        support={"default_type": "nuevo_requerimiento"},
        committee={"address": "comite@support.example"},
    )
    import_registry_file(app.db, registry_file)
    number = _open(app)
    (fwd,) = outbox(app, "feature_committee")
    assert fwd.ticket_number == number and fwd.to_addr == "comite@support.example"
