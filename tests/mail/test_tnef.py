"""Outlook's winmail.dat (issue 9 §4): agents get the files and the body inside, and the
original .dat is kept. The TNEF bytes come from tests/mail/tnef_writer.py (written here)."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.parse import parse
from maildesk.mail.tnef import unpack
from tests.mail.tnef_writer import (
    ATT_ATTACH_DATA,
    CORPUS_FILE,
    LOG,
    LVL_ATTACHMENT,
    PNG,
    attribute,
    corpus_mail,
    write_tnef,
)


def test_corpus_winmail_dat_is_what_the_writer_writes() -> None:
    assert CORPUS_FILE.read_bytes() == corpus_mail()


def test_tnef_only_mail_gives_body_files_rtf_and_keeps_the_dat() -> None:
    msg = parse(CORPUS_FILE.read_bytes())
    assert msg.text.startswith("Buenos días,\n\nAl exportar el reporte de ventas")
    assert msg.new_content.endswith("Rosa Hernández")
    names = [a.filename for a in msg.attachments]
    assert names == [
        "winmail.dat",
        "exportación ventas.log",
        "captura de pantalla.png",
        "message.rtf",
    ]
    by_name = {a.filename: a for a in msg.attachments}
    assert by_name["exportación ventas.log"].data == LOG
    assert (
        by_name["captura de pantalla.png"].content_type,
        by_name["captura de pantalla.png"].data,
    ) == ("image/png", PNG)
    assert by_name["message.rtf"].data.startswith(b"{\\rtf1")
    assert by_name["winmail.dat"].content_type == "application/ms-tnef"
    assert msg.defects == ()


def _outlook_mail(dat: bytes, text: str = "Hola, adjunto el archivo.\n") -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "rosa@acme.example", "soporte@example.test", "Archivo"
    m.set_content(text)
    m.add_attachment(dat, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return m.as_bytes()


def test_plain_body_next_to_winmail_dat_stays_the_body() -> None:
    dat = write_tnef(body="Cuerpo dentro del dat", files=(("factura.pdf", b"%PDF-1.4 x"),))
    msg = parse(_outlook_mail(dat))
    assert msg.text.strip() == "Hola, adjunto el archivo."
    assert [a.filename for a in msg.attachments] == ["winmail.dat", "factura.pdf"]
    assert msg.attachments[1].content_type == "application/pdf"


def test_html_body_inside_tnef_becomes_text() -> None:
    m = EmailMessage()
    m["From"], m["Subject"] = "rosa@acme.example", "x"
    dat = write_tnef(
        html="<html><body><p>Hola <b>equipo</b></p><p>Falla el cierre</p></body></html>"
    )
    m.set_content(dat, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    assert parse(m.as_bytes()).text == "Hola equipo\n\nFalla el cierre"


def test_file_names_from_tnef_are_made_safe() -> None:
    dat = write_tnef(files=(("..\\..\\Windows\\evil.exe", b"MZ"),))
    names = [a.filename for a in parse(_outlook_mail(dat)).attachments]
    assert names == ["winmail.dat", "evil.exe"]


def test_damaged_winmail_dat_is_kept_and_recorded() -> None:
    # An attachment attribute before any attachment started: tnefparse raises on it.
    dat = write_tnef(body="x")[:6] + attribute(LVL_ATTACHMENT, ATT_ATTACH_DATA, b"hola")
    msg = parse(_outlook_mail(dat))
    assert [(a.filename, a.data) for a in msg.attachments] == [("winmail.dat", dat)]
    assert any(d.startswith("tnef: winmail.dat unreadable") for d in msg.defects), msg.defects


def test_truncated_winmail_dat_never_fails_the_mail() -> None:
    dat = write_tnef(body="x", files=(("a.txt", b"hola"),))
    for cut in range(6, len(dat), 7):
        msg = parse(_outlook_mail(dat[:cut]))
        assert msg.attachments[0].data == dat[:cut]


def test_winmail_dat_without_tnef_signature_is_just_a_file() -> None:
    msg = parse(_outlook_mail(b"not tnef at all"))
    assert [a.filename for a in msg.attachments] == ["winmail.dat"]
    assert msg.defects == ()


@given(st.binary(max_size=300))
def test_property_unpack_never_raises(tail: bytes) -> None:
    defects: list[str] = []
    content = unpack(b"\x78\x9f\x3e\x22" + tail, defects)
    assert content.body is None or isinstance(content.body, str)
