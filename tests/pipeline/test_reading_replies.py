"""Reading replies right (issue 9 §4), end to end through pipeline.accept on SQLite and
PostgreSQL: a thank-you under a Mexican corporate signature keeps a resolved ticket resolved
(R7), a forwarded message is stored as the customer's content, and the files inside an
Outlook winmail.dat reach the ticket."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from maildesk.app import App
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.views import ticket_detail
from tests.helpers import NOW, make_mail, outbox
from tests.mail.tnef_writer import LOG, write_tnef

AGENT = "agente1@support.example"
SIGNATURE = (
    "Ing. Ana Martínez Garza\nGerente de Sistemas\nAcme Industrial S.A. de C.V.\n"
    "Tel. (81) 8123 4567 ext. 210\nCel. 81 1234 5678\nwww.acme.example\n"
)


def _open_and_resolve(app: App) -> str:
    """A ticket opened by ana@acme.example and resolved by an agent's #resolve mail; returns
    the Message-ID of the resolved notice the customer answers."""
    out = accept(app, make_mail(message_id="<c1@acme.example>"), "t", NOW)
    assert out.kind is Kind.TICKETED and out.ticket_number == 1
    (note,) = [r for r in outbox(app, "agent_notification") if r.ticket_number == 1]
    resolve = make_mail(
        sender=AGENT,
        subject="Re: [BITAM #1] El reporte de ventas no carga",
        body="#resolve se reinició el servicio de reportes\nYa quedó, favor de confirmar.\n",
        in_reply_to=f"<{note.message_id}>",
        references=f"<{note.message_id}>",
    )
    accept(app, resolve, "t", NOW + timedelta(hours=1))
    assert ticket_detail(app, 1)["state"] == "resolved"
    (resolved,) = outbox(app, "resolved")
    return resolved.message_id


def _outlook_reply(first: str, resolved_id: str) -> bytes:
    """The customer's Outlook answer to the resolved notice: words, signature, history."""
    body = (
        f"{first}\n\n{SIGNATURE}\n________________________________\n"
        "De: Soporte BITAM <customerservice@support.example>\n"
        "Enviado: miércoles, 25 de noviembre de 2026 11:00 a. m.\n"
        "Para: Ana Martínez <ana@acme.example>\n"
        "Asunto: [BITAM #1] Resuelto: El reporte de ventas no carga\n\n"
        "Su ticket fue resuelto. Si el problema continúa, responda este correo.\n"
    )
    return make_mail(
        subject="RE: [BITAM #1] Resuelto: El reporte de ventas no carga",
        body=body,
        in_reply_to=f"<{resolved_id}>",
        references=f"<c1@acme.example> <{resolved_id}>",
    )


def test_r7_thanks_with_corporate_signature_keeps_ticket_resolved(app: App) -> None:
    resolved_id = _open_and_resolve(app)
    out = accept(app, _outlook_reply("Muchas gracias!", resolved_id), "t", NOW + timedelta(days=1))
    assert out.kind is Kind.FOLLOWED_UP
    detail = ticket_detail(app, 1)
    assert detail["state"] == "resolved"
    assert "customer_confirmed" in [e["kind"] for e in detail["events"]]
    assert "reopened" not in [e["kind"] for e in detail["events"]]
    stored = detail["messages"][-1]["body"]
    assert stored.startswith("Muchas gracias!") and "Tel. (81) 8123 4567" in stored
    assert "Su ticket fue resuelto" not in stored  # the quoted notice is history


def test_r7_complaint_with_corporate_signature_reopens(app: App) -> None:
    resolved_id = _open_and_resolve(app)
    first = "Muchas gracias!\n\nPero la factura sigue saliendo sin el IVA."
    out = accept(app, _outlook_reply(first, resolved_id), "t", NOW + timedelta(days=1))
    assert out.kind is Kind.FOLLOWED_UP
    detail = ticket_detail(app, 1)
    assert detail["state"] == "open"
    assert "reopened" in [e["kind"] for e in detail["events"]]


def test_forwarded_message_is_stored_as_the_customers_content(app: App) -> None:
    body = (
        "Les reenvío lo que le sale a mi compañero.\n\n"
        "---------- Forwarded message ---------\n"
        "De: Pedro Soto <pedro.soto@acme.example>\nDate: mié, 25 nov 2026 a las 9:02\n"
        "Subject: Acceso denegado\nTo: Ana <ana@acme.example>\n\n"
        'Ana, me sale "Acceso denegado" al entrar al portal.\n'
    )
    out = accept(app, make_mail(subject="Fwd: Acceso denegado", body=body), "t", NOW)
    assert out.kind is Kind.TICKETED
    stored = ticket_detail(app, out.ticket_number)["messages"][0]["body"]
    assert stored.startswith("Les reenvío")
    assert stored.endswith('Ana, me sale "Acceso denegado" al entrar al portal.')


def test_winmail_dat_files_reach_the_ticket(app: App) -> None:
    m = EmailMessage()
    m["From"], m["To"] = "ana@acme.example", "customerservice@support.example"
    m["Subject"], m["Message-ID"] = "Error al exportar", "<tnef1@acme.example>"
    m.set_content("Adjunto el log del error.\n")
    dat = write_tnef(files=(("exportación ventas.log", LOG),))
    m.add_attachment(dat, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    out = accept(app, m.as_bytes(), "t", NOW)
    assert out.kind is Kind.TICKETED
    message = ticket_detail(app, out.ticket_number)["messages"][0]  # then the acknowledgement
    assert message["body"] == "Adjunto el log del error."
    assert [a["filename"] for a in message["attachments"]] == [
        "winmail.dat",
        "exportación ventas.log",
    ]
