"""Issue 8 item 2, assignment is announced: `#asignar`, P7's auto-assignment and any change
of assignee mail the new assignee "assigned to you" (summary, SLA due time in words, the
customer's last message with its files, the customer's history) and the previous assignee a
one-line notice; nobody is told of their own doing (taking a ticket by answering it sends
nothing), and a new auto-assigned ticket is one mail. SQLite and PostgreSQL, through
`accept`, delivered through a real aiosmtpd server where the files' bytes matter."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from maildesk.app import App
from maildesk.domain.dates import datetime_in_words
from maildesk.outbound.sender import flush
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.registry import import_registry_file
from maildesk.store.models import Outbox, Ticket
from tests.helpers import NOW, make_mail, outbox
from tests.samples import pdf, png
from tests.servers.smtp_sink import SmtpSink

UNO, DOS, TRES = "agente1@support.example", "agente2@support.example", "agente3@support.example"
THREE = [
    {"email": UNO, "name": "Agente Uno", "skills": ["soporte", "error"]},
    {"email": DOS, "name": "Agente Dos", "skills": ["soporte", "actividad"]},
    {"email": TRES, "name": "Agente Tres", "skills": ["consultoria"]},
]
LATER = NOW + timedelta(hours=1)


def _app(make_app: Callable[..., App], registry_file: Path, agents=THREE, **sections) -> App:
    app = make_app(agents=agents, **sections)
    import_registry_file(app.db, registry_file)
    return app


def _open(app: App, subject: str = "No timbra", **kw) -> int:
    out = accept(app, make_mail(subject=subject, **kw), "t", NOW)
    assert out.kind is Kind.TICKETED and out.ticket_number is not None
    return out.ticket_number


def _agent_mail(app: App, number: int, sender: str, body: str) -> None:
    """An agent writes about ticket `number` (subject tag), from their own mail client."""
    raw = make_mail(sender=sender, subject=f"Re: [BITAM #{number}] No timbra", body=body)
    out = accept(app, raw, "imap:support/INBOX/1:1", LATER)
    assert out.kind is Kind.FOLLOWED_UP and "rejected" not in out.reason, out


def _assignee(app: App, number: int) -> str | None:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        return t.assignee.email if t.assignee else None


def _text(row: Outbox | EmailMessage) -> str:
    msg = (
        row if isinstance(row, EmailMessage) else email.message_from_bytes(row.raw, policy=default)
    )
    body = msg.get_body(("plain",))
    assert body is not None
    return " ".join(body.get_content().split())


def test_item2_asignar_mails_the_new_assignee_the_ticket_files_and_history(
    make_app: Callable[..., App], registry_file: Path, smtp_sink: SmtpSink
) -> None:
    app = _app(make_app, registry_file, outbound=smtp_sink.outbound())
    earlier = _open(app, "Factura duplicada")
    shot, invoice = png(seed=5), pdf("Factura B-12")
    number = _open(
        app,
        body="Al timbrar sale el error de la captura.\n",
        attachments=[("error.png", "image/png", shot), ("factura.pdf", "application/pdf", invoice)],
    )
    assert _assignee(app, number) == DOS  # P7: Agente Uno has the earlier one
    _agent_mail(app, number, DOS, "#asignar Agente Uno\n")
    assert _assignee(app, number) == UNO
    flush(app, LATER)
    (mail,) = [
        r.message
        for r in smtp_sink.messages
        if r.rcpt_tos == [UNO] and "Asignado" in str(r.message["Subject"])
    ]
    assert mail["Subject"] == f"[BITAM #{number}] Asignado a usted: No timbra"
    assert {p.get_filename(): p.get_payload(decode=True) for p in mail.iter_attachments()} == {
        "error.png": shot,
        "factura.pdf": invoice,
    }
    text = _text(mail)
    assert text.startswith("Hola Agente Uno: Agente Dos le asignó el ticket")
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None and t.sla_due_at is not None
        due = datetime_in_words(t.sla_due_at, "es", app.calendar.tz)
    assert f"Vence SLA: {due}" in text
    assert "Al timbrar sale el error de la captura." in text
    assert f"[BITAM #{earlier}] Factura duplicada: abierto desde el" in text  # history
    assert mail["Reply-To"] == "customerservice@support.example"
    # Agente Dos handed it over himself: no notice to him about his own doing.
    assert outbox(app, "agent_unassigned") == []


def test_item2_previous_assignee_gets_a_one_line_notice(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    app = _app(make_app, registry_file)
    number = _open(app)
    assert _assignee(app, number) == UNO
    _agent_mail(app, number, DOS, "#asignar agente3@support.example\n")
    (assigned,) = outbox(app, "agent_assigned")
    assert assigned.to_addr == TRES
    (notice,) = outbox(app, "agent_unassigned")
    assert notice.to_addr == UNO
    text = _text(notice)
    assert (
        f"El ticket [BITAM #{number}] ya no está asignado a usted: ahora lo atiende Agente Tres"
        " (cambio hecho por Agente Dos)." in text
    )
    # The actor hears nothing of the hand-over but the confirmation of his commands (item 5).
    assert [r.template for r in outbox(app) if r.to_addr == DOS] == ["commands_applied"]


def test_item2_no_mail_when_an_agent_takes_a_ticket_by_answering(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    nobody_skilled = [
        {"email": UNO, "name": "Agente Uno", "skills": ["error"]},
        {"email": DOS, "name": "Agente Dos", "skills": ["actividad"]},
    ]
    app = _app(make_app, registry_file, agents=nobody_skilled)
    number = _open(app)
    assert _assignee(app, number) is None
    before = {r.id for r in outbox(app)}
    _agent_mail(app, number, UNO, "Hola Ana, ya lo revisamos: pruebe de nuevo.\n")
    assert _assignee(app, number) == UNO
    new = [r for r in outbox(app) if r.id not in before]
    assert [r.template for r in new] == ["agent_reply"]  # the answer, nothing for agents


def test_item2_auto_assignment_after_classifying_mails_the_chosen_agent(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    nobody_skilled = [
        {"email": UNO, "name": "Agente Uno", "skills": ["error"]},
        {"email": DOS, "name": "Agente Dos", "skills": ["actividad"]},
    ]
    app = _app(make_app, registry_file, agents=nobody_skilled)
    number = _open(app)
    _agent_mail(app, number, UNO, "#tipo actividad\n")
    assert _assignee(app, number) == DOS  # P7 by skill
    (assigned,) = outbox(app, "agent_assigned")
    assert assigned.to_addr == DOS
    assert "por su especialidad y su carga de trabajo" in _text(assigned)
    assert outbox(app, "agent_unassigned") == []  # nobody had it


def test_item2_new_auto_assigned_ticket_is_one_mail_saying_assigned_to_you(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    app = _app(make_app, registry_file)
    number = _open(app)
    rows = [r for r in outbox(app) if r.to_addr in (UNO, DOS, TRES)]
    assert [(r.template, r.to_addr) for r in rows] == [("agent_notification", UNO)]
    assert f"Nuevo ticket [BITAM #{number}], asignado a usted" in _text(rows[0])


def test_item2_assigning_to_the_current_assignee_sends_nothing(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    app = _app(make_app, registry_file)
    number = _open(app)
    _agent_mail(app, number, DOS, "#asignar Agente Uno\n#prioridad alta\n")
    assert outbox(app, "agent_assigned") == [] and outbox(app, "agent_unassigned") == []


def test_item2_ticket_opened_on_behalf_and_assigned_to_a_colleague_is_announced(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    app = _app(make_app, registry_file)
    raw = make_mail(
        sender=UNO,
        subject="Llamada: no imprime facturas",
        body="#new ana@acme.example\n#asignar Agente Dos\n\nLlamó Ana: no imprime facturas.\n",
    )
    out = accept(app, raw, "imap:support/INBOX/1:1", NOW)
    assert out.kind is Kind.TICKETED
    (assigned,) = outbox(app, "agent_assigned")
    assert assigned.to_addr == DOS
    text = _text(assigned)
    assert "Agente Uno le asignó el ticket" in text
    assert "Llamó Ana: no imprime facturas." in text  # the request as the agent wrote it
    assert outbox(app, "agent_unassigned") == []  # the author handed it over himself
