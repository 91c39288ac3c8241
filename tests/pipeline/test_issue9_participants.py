"""Issue 9 §1, colleagues in Cc are part of the ticket (SPEC §10 "Participants"), through
`accept` and a real aiosmtpd server, on SQLite and PostgreSQL.

ACME's registry has Ana (requester) and Luis (colleague); pedro@gmail.example is nobody's
contact and gina@globex.example is another customer's. Ana writes with all three in Cc."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest
from sqlalchemy import event, select

from maildesk.app import App
from maildesk.cli import main
from maildesk.mail.verp import return_path
from maildesk.outbound.sender import flush
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.pipeline.tickets import transition
from maildesk.registry import import_registry_file
from maildesk.store.models import Contact, Event, Outbox, Participant, Ticket
from maildesk.timers import run_timers
from maildesk.views import ticket_detail
from tests.helpers import NOW, REGISTRY, make_mail, outbox
from tests.servers.smtp_sink import Received, SmtpSink

ANA, LUIS = "ana@acme.example", "luis@acme.example"
STRANGER, OTHER = "pedro@gmail.example", "gina@globex.example"
AGENT = "agente1@support.example"
SUPPORT = "customerservice@support.example"
CC = f"Luis Gómez <{LUIS}>, Pedro Ruiz <{STRANGER}>, {OTHER}"
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def app(make_app: Callable[..., App], registry_file: Path, smtp_sink: SmtpSink) -> App:
    """Outbound through a real SMTP server, as deployed."""
    a = make_app(outbound=smtp_sink.outbound(timeout=10))
    import_registry_file(a.db, registry_file)
    return a


def _open(app: App, cc: str = CC, **kw: str) -> int:
    raw = make_mail(message_id="<q1@acme.example>", headers={"Cc": cc} if cc else None, **kw)
    out = accept(app, raw, "smtp:127.0.0.1", NOW)
    assert out.kind is Kind.TICKETED and out.ticket_number is not None
    return out.ticket_number


def _delivered(sink: SmtpSink, message_id: str) -> list[Received]:
    return [m for m in sink.messages if m.message["Message-ID"] == f"<{message_id}>"]


def _people(msg: EmailMessage, field: str) -> list[str]:
    return [a.lower() for _, a in getaddresses([str(v) for v in msg.get_all(field, [])])]


def _agent_answers(app: App, number: int, body: str, when=LATER) -> None:
    note = [r for r in outbox(app, "agent_notification") if r.ticket_number == number][-1]
    raw = make_mail(
        sender=AGENT,
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body=body,
        in_reply_to=f"<{note.message_id}>",
        references=f"<{note.message_id}>",
    )
    out = accept(app, raw, "imap:support/INBOX/1:1", when)
    assert out.kind is Kind.FOLLOWED_UP and "rejected" not in out.reason, out.reason


def _everyone_mailed(sink: SmtpSink) -> set[str]:
    return {r.lower() for m in sink.messages for r in m.rcpt_tos}


def test_issue9_colleague_in_cc_gets_acknowledgement_and_answers_stranger_gets_nothing(
    app: App, smtp_sink: SmtpSink
) -> None:
    number = _open(app)
    flush(app, NOW)
    (ack_id,) = {r.message_id for r in outbox(app, "acknowledgement")}
    acks = _delivered(smtp_sink, ack_id)
    # One mail, one Message-ID, delivered to each address on its own envelope.
    assert sorted(r for m in acks for r in m.rcpt_tos) == [ANA, LUIS]
    head = acks[0].message
    assert _people(head, "To") == [ANA] and _people(head, "Cc") == [LUIS]
    assert "Luis Gómez" in str(head["Cc"])
    ack_text = head.get_body(("plain",)).get_content()
    assert STRANGER in ack_text and OTHER in ack_text  # told they get no copy, and why
    assert "Solo los contactos registrados de ACME" in ack_text

    _agent_answers(app, number, "Hola Ana y Luis, ya quedó corregido el reporte.")
    flush(app, LATER)
    (answer_id,) = {r.message_id for r in outbox(app, "agent_reply")}
    answers = _delivered(smtp_sink, answer_id)
    assert sorted(r for m in answers for r in m.rcpt_tos) == [ANA, LUIS]
    for m in answers:  # the same threading for both: they answer into one conversation
        assert _people(m.message, "To") == [ANA] and _people(m.message, "Cc") == [LUIS]
        assert m.message["In-Reply-To"] == "<q1@acme.example>"
        assert "<q1@acme.example>" in str(m.message["References"])

    # P3: the stranger and the other customer's contact never got anything.
    assert STRANGER not in _everyone_mailed(smtp_sink)
    assert OTHER not in _everyone_mailed(smtp_sink)

    # Agents are shown who is copied and who gets nothing.
    (note,) = [m for m in smtp_sink.messages if AGENT in m.rcpt_tos and "Nuevo ticket" in str(
        m.message.get_body(("plain",)).get_content())]  # fmt: skip
    text = note.message.get_body(("plain",)).get_content()
    assert f"Luis Gómez <{LUIS}>: participante" in text
    assert "Pedro Ruiz" not in text  # the header's name is the customer's word, not ours
    assert f"{STRANGER}: no es un contacto registrado: no recibe nada" in text
    assert f"{OTHER}: no es un contacto de este cliente: no recibe nada" in text
    assert "Gina" not in text  # nothing of the other customer's registry is revealed

    shown = {p["email"]: p for p in ticket_detail(app, number)["participants"]}
    assert shown[LUIS]["standing"] == "cc" and shown[LUIS]["mailed"] is True
    assert shown[LUIS]["name"] == "Luis Gómez"
    assert shown[STRANGER]["standing"] == "unregistered" and shown[STRANGER]["mailed"] is False
    assert shown[OTHER]["standing"] == "other_customer" and shown[OTHER]["name"] is None
    assert ANA not in shown and SUPPORT not in shown


def test_issue9_tickets_show_lists_participants_in_text_and_json(
    app: App, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = _open(app)
    cfg = tmp_path / "show.toml"
    cfg.write_text(
        f'[support]\naddress = "{SUPPORT}"\nsubject_prefix = "BITAM"\n'
        f'[database]\nurl = "{db_url}"\n[inbound]\nmode = "none"\n',
        encoding="utf-8",
    )

    def show(*extra: str) -> str:
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        assert main(["--config", str(cfg), "tickets", "show", str(number), *extra]) == 0
        monkeypatch.undo()
        return out.getvalue()

    text = show()
    section = text.split("En copia\n", 1)[1].split("\n\n", 1)[0]
    assert f"Luis Gómez <{LUIS}>: recibe copia" in section
    assert f"{STRANGER}: no registrado: no recibe nada" in section
    assert f"{OTHER}: contacto de otro cliente: no recibe nada" in section
    people = json.loads(show("--json"))["participants"]
    assert [(p["email"], p["standing"], p["mailed"]) for p in people] == [
        (LUIS, "cc", True),
        (STRANGER, "unregistered", False),
        (OTHER, "other_customer", False),
    ]
    # The acknowledgement's two deliveries, each address on its own.
    ack = next(m for m in json.loads(show("--json"))["messages"] if m["kind"] == "notice")
    assert [d["to"] for d in ack["deliveries"]] == [ANA, LUIS]
    assert ack["to"] == f"{ANA}, {LUIS}"


def test_issue9_colleagues_reply_is_a_follow_up_and_answers_keep_everyone(
    app: App, smtp_sink: SmtpSink
) -> None:
    """A participant's reply is a follow-up like the requester's (R7); the agent's answer
    still goes to the requester with the colleague in Cc, threaded on the colleague's mail."""
    number = _open(app, cc=LUIS)
    (ack,) = outbox(app, "acknowledgement", to=LUIS)
    reply = make_mail(
        sender=LUIS,
        to=f"{SUPPORT}, {ANA}",
        subject=f"RE: [BITAM #{number}] El reporte de ventas no carga",
        body="Agrego: también falla el de compras.\n",
        message_id="<l1@acme.example>",
        in_reply_to=f"<{ack.message_id}>",
        references=f"<q1@acme.example> <{ack.message_id}>",
    )
    out = accept(app, reply, "smtp:127.0.0.1", LATER)
    assert out.kind is Kind.FOLLOWED_UP and out.ticket_number == number
    _agent_answers(app, number, "Revisamos ambos reportes.", when=LATER + timedelta(hours=1))
    flush(app, LATER + timedelta(hours=1))
    (answer_id,) = {r.message_id for r in outbox(app, "agent_reply")}
    answers = _delivered(smtp_sink, answer_id)
    assert sorted(r for m in answers for r in m.rcpt_tos) == [ANA, LUIS]
    assert answers[0].message["In-Reply-To"] == "<l1@acme.example>"
    # Ana in Luis's To is the requester: never a participant of her own ticket.
    with app.db.transaction() as s:
        rows = s.scalars(select(Participant.email).where(Participant.ticket_number == number))
        assert list(rows) == [LUIS]


def test_issue9_stranger_in_cc_who_writes_is_still_unregistered(app: App) -> None:
    """Being recorded on a ticket gives a stranger nothing (P3): their own mail is refused."""
    number = _open(app)
    out = accept(
        app,
        make_mail(sender=STRANGER, subject=f"Re: [BITAM #{number}] El reporte de ventas no carga"),
        "smtp:127.0.0.1",
        LATER,
    )
    assert out.kind is Kind.REJECTED


def test_issue9_staff_and_support_addresses_are_never_participants(app: App) -> None:
    cc = f"{AGENT}, Customerservice+urgente@Support.Example, jefe@support.example, {ANA}"
    number = _open(app, cc=cc)
    with app.db.transaction() as s:
        assert list(s.scalars(select(Participant).where(Participant.ticket_number == number))) == []
    assert [r.to_addr for r in outbox(app, "acknowledgement")] == [ANA]


def test_issue9_suppressed_colleague_and_daily_cap_apply_per_address(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    app = make_app(limits={"auto_mails_per_recipient_per_day": 2})
    import_registry_file(app.db, registry_file)
    with app.db.transaction() as s:
        luis = s.scalar(select(Contact).where(Contact.email == LUIS))
        assert luis is not None
        luis.suppressed_until = NOW + timedelta(days=30)  # a permanent bounce (R2)
    _open(app, cc=LUIS)
    (ack,) = outbox(app, "acknowledgement")
    assert ack.to_addr == ANA
    assert LUIS not in ack.raw.decode()  # not named in Cc of a mail it does not get
    with app.db.transaction() as s:
        stopped = s.scalars(select(Event.detail).where(Event.kind == "notice_suppressed"))
        assert [(d["to"], d["template"]) for d in stopped] == [(LUIS, "acknowledgement")]
        luis = s.scalar(select(Contact).where(Contact.email == LUIS))
        assert luis is not None
        luis.suppressed_until = None
    # The daily cap counts each address's own mail: Ana's third automatic mail today is
    # stopped, Luis (one so far) still gets his copy, named alone in Cc.
    for n in (2, 3):
        raw = make_mail(message_id=f"<q{n}@acme.example>", headers={"Cc": LUIS})
        accept(app, raw, "smtp:127.0.0.1", NOW + timedelta(minutes=n))
    to = [r.to_addr for r in outbox(app, "acknowledgement")]
    assert to.count(ANA) == 2 and to.count(LUIS) == 2


def test_issue9_timers_bulk_notices_copy_participants(app: App, smtp_sink: SmtpSink) -> None:
    """T2 (abandoned) and T1 (closed, with the transcript) go to the colleague too."""
    number = _open(app)
    _agent_answers(app, number, "¿Nos confirma si ya funciona?")
    later = LATER + timedelta(days=31)
    run_timers(app, later)  # T2: abandoned, resolved
    closed_at = later + timedelta(days=30)
    run_timers(app, closed_at)  # T1: closed
    for template in ("abandoned", "closed"):
        rows = outbox(app, template)
        assert sorted(r.to_addr for r in rows) == [ANA, LUIS], template
        assert len({r.message_id for r in rows}) == 1
        mails = _delivered(smtp_sink, rows[0].message_id)
        assert _people(mails[0].message, "Cc") == [LUIS]
    assert STRANGER not in _everyone_mailed(smtp_sink)


def test_issue9_resolved_notice_by_command_copies_participants(app: App) -> None:
    number = _open(app, cc=LUIS)
    _agent_answers(app, number, "#resolve\nListo, quedó corregido.")
    assert sorted(r.to_addr for r in outbox(app, "resolved")) == [ANA, LUIS]
    assert sorted(r.to_addr for r in outbox(app, "agent_reply")) == [ANA, LUIS]


def test_issue9_deactivated_colleague_is_no_longer_mailed(
    app: App, registry_file: Path, tmp_path: Path
) -> None:
    """P3 holds at send time: a contact the registry deactivated since gets nothing."""
    number = _open(app, cc=LUIS)
    smaller = tmp_path / "smaller.toml"
    smaller.write_text(
        REGISTRY.replace(
            '  { email = "luis@acme.example", name = "Luis Gómez", cloud_space = "acme-test" },\n',
            "",
        ),
        encoding="utf-8",
    )
    import_registry_file(app.db, smaller)
    _agent_answers(app, number, "Seguimos revisando.")
    assert [r.to_addr for r in outbox(app, "agent_reply")] == [ANA]
    (luis,) = [p for p in ticket_detail(app, number)["participants"] if p["email"] == LUIS]
    assert luis["mailed"] is False


def test_issue9_closed_ticket_follow_up_keeps_the_colleagues(app: App) -> None:
    """P11: the new ticket that continues a closed one copies the same colleagues."""
    number = _open(app, cc=LUIS)
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        transition(s, t, "closed", LATER, AGENT, "the customer asked")
    again = make_mail(
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body="Volvió a fallar.\n",
        message_id="<q9@acme.example>",
    )
    out = accept(app, again, "smtp:127.0.0.1", LATER + timedelta(days=1))
    assert out.kind is Kind.TICKETED and out.ticket_number != number
    rows = [r for r in outbox(app, "followup_new_ticket")]
    assert sorted(r.to_addr for r in rows) == [ANA, LUIS]


def _statements(app: App, run: Callable[[], object]) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:
        seen.append(statement)

    event.listen(app.db.engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(app.db.engine, "before_cursor_execute", count)
    return seen


def test_issue9_ingest_looks_up_copies_once_and_only_when_there_are_any(app: App) -> None:
    """SPEC §9: a mail naming nobody else costs no participant statement; one naming others
    costs one lookup (and the writes of what changed), whatever their number."""
    number = _open(app, cc="")

    def reply(n: int, cc: str) -> Callable[[], object]:
        raw = make_mail(
            subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
            message_id=f"<r{n}@acme.example>",
            headers={"Cc": cc} if cc else None,
        )
        return lambda: accept(app, raw, "smtp:127.0.0.1", LATER + timedelta(minutes=n))

    plain = _statements(app, reply(1, ""))
    ours = _statements(app, reply(2, f"{AGENT}, {SUPPORT}, {ANA}"))  # nobody to look up
    assert len(ours) == len(plain)
    assert not any("participants" in q for q in plain + ours)
    three = _statements(app, reply(3, CC))
    lookups = [q for q in three if q.lstrip().upper().startswith("SELECT") and "participants" in q]
    assert len(lookups) == 1
    again = _statements(app, reply(4, CC))  # nothing changed: the lookup and no write
    assert [q for q in again if "participants" in q] == lookups
    assert len(again) == len(plain) + 1


def test_issue9_other_customers_contact_is_never_added(app: App) -> None:
    number = _open(app, cc=OTHER)
    assert [r.to_addr for r in outbox(app, "acknowledgement")] == [ANA]
    with app.db.transaction() as s:
        row = s.scalar(select(Participant).where(Participant.ticket_number == number))
        assert row is not None and row.standing == "other_customer" and row.contact_id is None
    assert not outbox(app, to=OTHER)


def test_issue9_outbox_rows_share_the_mail(app: App) -> None:
    _open(app, cc=LUIS)
    rows = outbox(app, "acknowledgement")
    assert [r.to_addr for r in rows] == [ANA, LUIS]
    assert rows[0].raw == rows[1].raw and rows[0].message_id == rows[1].message_id
    with app.db.transaction() as s:
        assert s.scalar(select(Outbox.id).where(Outbox.to_addr == STRANGER)) is None


def test_issue9_bounce_of_a_colleagues_copy_suppresses_only_the_colleague(app: App) -> None:
    """The copies share one Message-ID but each has its own return path: a permanent DSN
    back at Luis's (R2) stops automatic mail to Luis, recorded on the ticket where he is a
    colleague; Ana still gets the ticket's mail, named alone."""
    number = _open(app, cc=LUIS)
    (luis_row,) = outbox(app, "acknowledgement", to=LUIS)
    dsn = _dsn(luis_row.message_id, LUIS, to=return_path(app.secret, SUPPORT, luis_row.id))
    assert accept(app, dsn, "smtp:127.0.0.1", LATER).ticket_number == number
    with app.db.transaction() as s:
        suppressed = dict(s.execute(select(Contact.email, Contact.suppressed_until)).all())
        events = s.scalars(select(Event).where(Event.kind == "contact_suppressed")).all()
        assert [(e.ticket_number, e.detail["address"]) for e in events] == [(number, LUIS)]
    assert suppressed[LUIS] is not None and suppressed[ANA] is None
    _agent_answers(app, number, "#resolve\nQuedó resuelto.", when=LATER + timedelta(hours=1))
    # The relayed answer is a person's mail (no loop guard, SPEC §7); the notice is automatic.
    assert [r.to_addr for r in outbox(app, "resolved")] == [ANA]
    assert LUIS not in outbox(app, "resolved")[0].raw.decode()


def test_issue9_colleague_forging_a_bounce_for_the_requester_silences_nobody(app: App) -> None:
    """Luis got the acknowledgement too, so he knows its Message-ID: his DSN naming Ana,
    quoting it, sent to the support address, is recorded and never obeyed (SPEC §10)."""
    number = _open(app, cc=LUIS)
    (ack_id,) = {r.message_id for r in outbox(app, "acknowledgement")}
    forged = _dsn(ack_id, ANA).replace(b"MAILER-DAEMON@mx.acme.example", LUIS.encode())
    assert accept(app, forged, "smtp:127.0.0.1", LATER).ticket_number == number
    with app.db.transaction() as s:
        assert s.scalars(select(Contact.suppressed_until)).all() == [None, None, None, None]
    _agent_answers(app, number, "#resolve\nQuedó resuelto.", when=LATER + timedelta(hours=1))
    assert sorted(r.to_addr for r in outbox(app, "resolved")) == [ANA, LUIS]


def _dsn(original_id: str, recipient: str, to: str = SUPPORT) -> bytes:
    return f"""From: MAILER-DAEMON@mx.acme.example
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-{original_id[:12]}@mx.acme.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

The mail could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1

--B
Content-Type: text/rfc822-headers

Message-ID: <{original_id}>
To: {ANA}
Cc: {recipient}
Subject: [BITAM #1] El reporte de ventas no carga

--B--
""".encode()
