"""Issue 8's "done when", the morning of a real desk, through the running daemon: mail goes
into a real Dovecot mailbox, the daemon (IMAP IDLE in, SMTP out) does the rest, and what
agents read is what a real aiosmtpd server received. On SQLite and PostgreSQL.

Items 1–3: a customer mail with a PNG and a PDF reaches the assigned agent with both files
attached (bytes equal); `#asignar` to a second agent mails that agent the ticket with the
customer's history and the files; the first agent, who handed it over, gets nothing about it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.app import App
from maildesk.daemon import Daemon
from maildesk.registry import import_registry_file
from tests.helpers import make_mail, wait_until
from tests.samples import pdf, png
from tests.servers.daemon import sections, start_daemon
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

UNO, DOS = "agente1@support.example", "agente2@support.example"
CUSTOMER = "ana@acme.example"


@pytest.fixture
def desk(
    make_app: Callable[..., App],
    registry_file: Path,
    tmp_path: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    daemons: list[Daemon],
) -> App:
    """The daemon running on the support mailbox, delivering through the SMTP sink."""
    app = make_app(**sections(tmp_path, dovecot, smtp_sink))
    import_registry_file(app.db, registry_file)
    d = start_daemon(app, daemons)
    wait_until(lambda: d.consumer and d.consumer.state == "idle", 20, "the consumer to IDLE")
    return app


def _mail_to(sink: SmtpSink, to: str, subject_has: str) -> EmailMessage:
    """Wait for the mail to `to` whose subject contains `subject_has`, as its client reads it."""

    def found() -> EmailMessage | None:
        for r in list(sink.messages):
            if to in r.rcpt_tos and subject_has in str(r.message["Subject"]):
                return r.message
        return None

    return wait_until(found, 20, f"mail to {to} about {subject_has!r}")


def _files(msg: EmailMessage) -> dict[str, bytes]:
    return {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return " ".join(body.get_content().split())


@pytest.mark.imap
def test_issue8_morning_files_reach_the_assignee_and_asignar_hands_over_with_history(
    desk: App, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    # Yesterday: Ana asked about a duplicated invoice; it is still open.
    dovecot.append(None, make_mail(subject="Factura duplicada", body="Me llegó dos veces.\n"))
    first = _mail_to(smtp_sink, UNO, "Factura duplicada")
    assert "[BITAM #1]" in str(first["Subject"])

    # This morning: a screenshot and the invoice, the way her client sends them.
    shot, invoice = png(320, 200, seed=11), pdf("Factura A-1024", pad=30_000)
    mid = f"<{uuid.uuid4().hex}@acme.example>"
    dovecot.append(
        None,
        make_mail(
            subject="No timbra la factura A-1024",
            body="Al timbrar sale el error de la captura. Adjunto la factura.\n",
            message_id=mid,
            attachments=[
                ("captura.png", "image/png", shot),
                ("factura A-1024.pdf", "application/pdf", invoice),
            ],
        ),
    )
    # P7 spreads the load: Agente Dos has none, so the new ticket is his, in one mail.
    note = _mail_to(smtp_sink, DOS, "No timbra")
    assert _files(note) == {"captura.png": shot, "factura A-1024.pdf": invoice}
    text = _text(note)
    assert "Nuevo ticket [BITAM #2], asignado a usted" in text
    assert "[BITAM #1] Factura duplicada: abierto desde el" in text  # her history
    assert not [
        r for r in smtp_sink.messages if r.rcpt_tos == [UNO] and "#2]" in str(r.message["Subject"])
    ]

    # Agente Dos hands it to Agente Uno from his mail client, answering the notification.
    dovecot.append(
        None,
        make_mail(
            sender=DOS,
            subject="Re: [BITAM #2] No timbra la factura A-1024",
            body="#asignar Agente Uno\n",
            in_reply_to=f"<{note['Message-ID'].strip('<>')}>",
        ),
    )
    handed = _mail_to(smtp_sink, UNO, "Asignado a usted")
    assert handed["Subject"] == "[BITAM #2] Asignado a usted: No timbra la factura A-1024"
    assert _files(handed) == {"captura.png": shot, "factura A-1024.pdf": invoice}
    text = _text(handed)
    assert text.startswith("Hola Agente Uno: Agente Dos le asignó el ticket [BITAM #2].")
    assert "Vence SLA:" in text and "(hora del centro)" in text
    assert "Al timbrar sale el error de la captura." in text
    assert "Historial de ACME S.A. de C.V." in text
    assert "[BITAM #1] Factura duplicada: abierto desde el" in text
    # The customer heard nothing of the internal hand-over; Agente Dos nothing of his own act.
    assert all(
        "Asignado" not in str(r.message["Subject"])
        for r in smtp_sink.messages
        if r.rcpt_tos == [CUSTOMER]
    )
    assert not [
        r
        for r in smtp_sink.messages
        if r.rcpt_tos == [DOS] and "Reasignado" in str(r.message["Subject"])
    ]
