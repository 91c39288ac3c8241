"""Issue 8 item 1, customer attachments reach the agents: notifications (new ticket,
follow-up, reopened) carry the customer's files as real MIME parts, bytes equal at the
agent's end through a real SMTP server, up to `limits.attachments_per_mail_bytes`; above it
they name what was left out and how to get it. On SQLite and PostgreSQL, through `accept`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.app import App
from maildesk.cli.words import Words
from maildesk.domain.sla import Priority
from maildesk.outbound.sender import flush
from maildesk.outbound.templates import format_size
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.pipeline.tickets import transition
from maildesk.registry import import_registry_file
from maildesk.store.files import ticket_files
from maildesk.store.models import Ticket
from maildesk.views import ticket_detail
from tests.helpers import NOW, make_mail
from tests.samples import mail_with_inline_image, pdf, png
from tests.servers.smtp_sink import SmtpSink

AGENT = "agente1@support.example"
KiB = 1024


@pytest.fixture
def desk(
    make_app: Callable[..., App], registry_file: Path, smtp_sink: SmtpSink
) -> Callable[..., App]:
    """An App that delivers through the real aiosmtpd sink (options override [limits])."""

    def build(**limits: int) -> App:
        app = make_app(
            outbound=smtp_sink.outbound(timeout=10),
            limits=limits,
        )
        import_registry_file(app.db, registry_file)
        return app

    return build


def delivered(app: App, sink: SmtpSink, to: str, when=NOW) -> list[EmailMessage]:
    """Send what is due and return what reached `to` (as its mail client parses it)."""
    flush(app, when)
    return [r.message for r in sink.messages if to in r.rcpt_tos]


def files_of(msg: EmailMessage) -> dict[str, bytes]:
    """The attachments a mail client shows: filename -> decoded bytes."""
    out = {}
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        out[part.get_filename()] = data
    return out


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return body.get_content()


def test_item1_new_ticket_notification_carries_png_and_pdf_bytes_equal(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk()
    shot, invoice = png(seed=1), pdf("Factura A-77")
    raw = make_mail(
        subject="No timbra la factura",
        attachments=[
            ("pantalla.png", "image/png", shot),
            ("factura.pdf", "application/pdf", invoice),
        ],
    )
    out = accept(app, raw, "t", NOW)
    assert out.kind is Kind.TICKETED
    (note,) = delivered(app, smtp_sink, AGENT)  # auto-assigned (P7): the assignee alone
    assert files_of(note) == {"pantalla.png": shot, "factura.pdf": invoice}
    types = {p.get_filename(): p.get_content_type() for p in note.iter_attachments()}
    assert types == {"pantalla.png": "image/png", "factura.pdf": "application/pdf"}
    text = text_of(note)
    assert "pantalla.png" in text and "factura.pdf" in text
    assert "no adjunto" not in text


def test_item1_followup_and_reopen_notifications_carry_the_new_files(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk()
    first = accept(app, make_mail(message_id="<c1@acme.example>"), "t", NOW)
    number = first.ticket_number
    assert number is not None
    log = b"2026-11-25 error 500\n" * 40
    later = NOW + timedelta(hours=1)
    follow = make_mail(
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body="Adjunto el log.\n",
        in_reply_to="<c1@acme.example>",
        attachments=[("server.log", "text/plain", log)],
    )
    assert accept(app, follow, "t", later).reason != "new ticket"
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        transition(s, t, "resolved", later, AGENT)
    shot = png(seed=9)
    again = make_mail(
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body="Volvió a fallar, vea la captura.\n",
        in_reply_to="<c1@acme.example>",
        attachments=[("otra vez.png", "image/png", shot)],
    )
    assert accept(app, again, "t", later + timedelta(hours=1)).reason == "reopened"
    notes = delivered(app, smtp_sink, AGENT, later + timedelta(hours=2))
    assert [files_of(n) for n in notes] == [{}, {"server.log": log}, {"otra vez.png": shot}]
    assert "reabierto" in text_of(notes[2])


def test_item1_inline_image_counts_as_an_attachment(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk()
    shot = png(seed=4)
    assert accept(app, mail_with_inline_image(shot), "t", NOW).kind is Kind.TICKETED
    (note,) = delivered(app, smtp_sink, AGENT)
    assert files_of(note) == {"image1.png": shot}
    assert "image1.png" in text_of(note)


def test_item1_over_the_cap_lists_what_was_left_out_and_how_to_get_it(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk(attachments_per_mail_bytes=100 * KiB)
    small, big, huge = png(seed=2), pdf("Contrato", pad=95 * KiB), pdf("Manual", pad=150 * KiB)
    assert len(small) + len(big) > 100 * KiB > len(big) > len(small)
    raw = make_mail(
        attachments=[
            ("captura.png", "image/png", small),
            ("contrato.pdf", "application/pdf", big),
            ("manual.pdf", "application/pdf", huge),
        ]
    )
    number = accept(app, raw, "t", NOW).ticket_number
    (note,) = delivered(app, smtp_sink, AGENT)
    attached = files_of(note)
    assert attached == {"captura.png": small}  # in order, what fits: the rest is named
    assert sum(map(len, attached.values())) <= 100 * KiB
    text = " ".join(text_of(note).split())
    with app.db.transaction() as s:
        ids = {f.filename: f.id for f in ticket_files(s, number)}
    assert f"contrato.pdf ({format_size(len(big))}, n.º {ids['contrato.pdf']}) — no adjunto" in text
    assert (
        f"manual.pdf ({format_size(len(huge))}, n.º {ids['manual.pdf']}) — no cabe en un correo"
        in text
    )
    assert "#adjuntos" in text
    assert f"maildesk attachments get {number} NÚMERO" in text


def test_item1_a_file_that_fits_after_a_big_one_is_still_attached(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk(attachments_per_mail_bytes=50 * KiB)
    big, small = pdf("Grande", pad=60 * KiB), png(seed=3)
    raw = make_mail(
        attachments=[("grande.pdf", "application/pdf", big), ("captura.png", "image/png", small)]
    )
    accept(app, raw, "t", NOW)
    (note,) = delivered(app, smtp_sink, AGENT)
    assert files_of(note) == {"captura.png": small}
    text = text_of(note)
    assert "Para recibirlos por correo" not in text  # nothing a mail could carry was left out
    assert "maildesk attachments get" in text


# --- #attachments / #adjuntos ----------------------------------------------------------------


def _agent_asks(app: App, number: int, body: str, when=NOW + timedelta(hours=1)) -> Outcome:
    """The assignee answers ticket `number`'s mail with commands at the top."""
    raw = make_mail(
        sender=AGENT,
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body=body,
        message_id=f"<ask-{when.timestamp()}@support.example>",
    )
    return accept(app, raw, "imap:support/INBOX/1:1", when)


def _ids(app: App, number: int) -> dict[str, int]:
    with app.db.transaction() as s:
        return {f.filename: f.id for f in ticket_files(s, number)}


def test_item1_adjuntos_mails_every_file_split_under_the_cap(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk(attachments_per_mail_bytes=100 * KiB)
    a, b, c = pdf("Uno", pad=60 * KiB), pdf("Dos", pad=50 * KiB), png(seed=7)
    huge = pdf("Respaldo", pad=120 * KiB)
    raw = make_mail(
        attachments=[
            ("uno.pdf", "application/pdf", a),
            ("dos.pdf", "application/pdf", b),
            ("respaldo.pdf", "application/pdf", huge),
            ("tres.png", "image/png", c),
        ]
    )
    number = accept(app, raw, "t", NOW).ticket_number
    assert number is not None
    flush(app, NOW)
    smtp_sink.messages.clear()  # the notification: already checked elsewhere
    out = _agent_asks(app, number, "#adjuntos\n")
    assert out.kind is Kind.FOLLOWED_UP and out.reason == "agent commands applied"
    mails = delivered(app, smtp_sink, AGENT, NOW + timedelta(hours=1))
    assert len(mails) == 2
    got: dict[str, bytes] = {}
    for m in mails:
        files = files_of(m)
        assert sum(map(len, files.values())) <= 100 * KiB  # each mail within the cap
        got.update(files)
    assert got == {"uno.pdf": a, "dos.pdf": b, "tres.png": c}  # bytes equal, none twice
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert subjects == [
        f"[BITAM #{number}] Adjuntos (1 de 2): El reporte de ventas no carga",
        f"[BITAM #{number}] Adjuntos (2 de 2): El reporte de ventas no carga",
    ]
    first = next(m for m in mails if "(1 de 2)" in str(m["Subject"]))
    text = text_of(first)
    assert "respaldo.pdf" in text and "no se puede enviar por correo" in " ".join(text.split())
    huge_id = _ids(app, number)["respaldo.pdf"]
    assert f"maildesk attachments get {number} {huge_id} -o CARPETA" in text
    assert all(m["Auto-Submitted"] == "auto-replied" for m in mails)
    assert not [r for r in smtp_sink.messages if "ana@acme.example" in r.rcpt_tos]
    events = [e for e in ticket_detail(app, number)["events"] if e["kind"] == "attachments_mailed"]
    (event,) = events  # `tickets show` says who got what
    ids = _ids(app, number)
    said = Words("es", app.calendar.tz).event(event["kind"], event["actor"], event["detail"])
    assert said == (
        f"adjuntos n.º {ids['uno.pdf']}, {ids['dos.pdf']}, {ids['tres.png']} enviados por "
        f"correo a {AGENT} (2 correo(s)); demasiado grandes para el correo: {huge_id}"
    )


def test_item1_adjuntos_by_number_or_name_sends_just_that_file(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk()
    shot, invoice = png(seed=8), pdf("Factura C-3")
    raw = make_mail(
        attachments=[
            ("Pantalla.PNG", "image/png", shot),
            ("factura.pdf", "application/pdf", invoice),
        ]
    )
    number = accept(app, raw, "t", NOW).ticket_number
    assert number is not None
    flush(app, NOW)
    smtp_sink.messages.clear()
    ids = _ids(app, number)
    _agent_asks(app, number, f"#attachments {ids['factura.pdf']}\n")
    _agent_asks(app, number, "#adjuntos pantalla.png\n", NOW + timedelta(hours=2))
    mails = delivered(app, smtp_sink, AGENT, NOW + timedelta(hours=2))
    assert [files_of(m) for m in mails] == [{"factura.pdf": invoice}, {"Pantalla.PNG": shot}]


def test_item1_adjuntos_unknown_name_or_number_gets_an_error_mail_and_nothing_else(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk()
    raw = make_mail(attachments=[("factura.pdf", "application/pdf", pdf("Factura"))])
    number = accept(app, raw, "t", NOW).ticket_number
    other = accept(
        app, make_mail(subject="Otro", attachments=[("ajeno.png", "image/png", png())]), "t", NOW
    ).ticket_number
    assert number is not None and other is not None
    foreign = _ids(app, other)["ajeno.png"]  # another ticket's file: not this one's
    flush(app, NOW)
    smtp_sink.messages.clear()
    for n, which in enumerate(("contrato.pdf", str(foreign), "999")):
        when = NOW + timedelta(hours=1 + n)
        out = _agent_asks(app, number, f"#adjuntos {which}\n#prioridad alta\n\nYa lo vi.\n", when)
        assert out.kind is Kind.FOLLOWED_UP and "rejected" in out.reason
    mails = delivered(app, smtp_sink, AGENT, NOW + timedelta(hours=4))
    assert len(mails) == 3 and all(files_of(m) == {} for m in mails)
    for m, which in zip(mails, ("contrato.pdf", str(foreign), "999"), strict=True):
        text = " ".join(text_of(m).split())
        assert f"no attachment '{which}' on this ticket" in text
        assert "factura.pdf" in text  # it lists the ticket's files
        assert "ajeno.png" not in text
    assert not [r for r in smtp_sink.messages if "ana@acme.example" in r.rcpt_tos]
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None and t.priority is Priority.MEDIUM  # all or nothing (§4)


def test_item1_adjuntos_on_a_ticket_without_files_is_refused(
    desk: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = desk()
    number = accept(app, make_mail(), "t", NOW).ticket_number
    assert number is not None
    out = _agent_asks(app, number, "#adjuntos\n")
    assert "rejected" in out.reason
    flush(app, NOW)
    smtp_sink.messages.clear()
    (err,) = delivered(app, smtp_sink, AGENT, NOW + timedelta(hours=1))
    assert "this ticket has no attachments" in " ".join(text_of(err).split())
