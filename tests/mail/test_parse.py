"""parse(): bytes -> Inbound on the awkward corpus and on generated input (§3 parsing, §8)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.errors import Unparseable
from maildesk.mail.charsets import decode_bytes
from maildesk.mail.htmltext import html_to_text
from maildesk.mail.inbound import Inbound
from maildesk.mail.mime import safe_filename
from maildesk.mail.parse import parse

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.eml"))


def load(name: str) -> Inbound:
    return parse((CORPUS / name).read_bytes())


def test_corpus_is_present_and_small() -> None:
    assert len(CORPUS_FILES) >= 25
    for path in CORPUS_FILES:
        assert path.stat().st_size < 50_000, path.name


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_parses(path: Path) -> None:
    msg = parse(path.read_bytes())
    assert msg.raw == path.read_bytes()
    assert "\x00" not in msg.text and "\x00" not in msg.subject
    assert "\r" not in msg.text
    assert msg.new_content or not msg.text.strip()
    for att in msg.attachments:
        assert "/" not in att.filename and "\\" not in att.filename
        assert att.filename and att.content_type == att.content_type.lower()


def test_latin1_body_without_charset_decodes_cafe() -> None:
    msg = load("latin1_undeclared.eml")
    assert msg.text.strip() == "Quiero un café con azúcar, señor. ¿Es posible?"
    assert msg.subject == "Pedido de café"
    assert any("windows-1252" in d for d in msg.defects)


def test_cp1252_body_curly_quotes_and_euro() -> None:
    msg = load("cp1252_undeclared.eml")
    assert "“no funciona”" in msg.text and "100 €" in msg.text and "–" in msg.text


def test_raw_8bit_headers_latin1_subject_utf8_from_name() -> None:
    msg = load("raw_8bit_headers.eml")
    assert msg.subject == "Café y señal"
    assert msg.from_name == "José Núñez"
    assert msg.from_addr == "jose@acme.example"
    assert msg.text.strip() == "Cuerpo en utf-8: señal."


def test_rfc2047_names_subject_and_address_lists() -> None:
    msg = load("rfc2047_from.eml")
    assert msg.from_name == "José Núñez"
    assert msg.from_addr == "jose.nunez@acme.example"
    assert msg.subject == "Consulta sobre la versión 8.2"
    assert msg.to == ("soporte@example.test", "otro@acme.example")
    assert msg.cc == ("ana.perez@acme.example",)
    assert msg.header("reply-to") == "<jose.alt@acme.example>"
    assert msg.headers["to"][0].startswith("Soporte Técnico")


def test_message_ids_tolerate_garbage_and_duplicates() -> None:
    msg = load("rfc2047_from.eml")
    assert msg.message_id == "garbage-id-without-brackets@acme.example"
    assert msg.in_reply_to == ("a@x.example", "b@x.example")
    assert msg.references == ("a@x.example", "c@x.example")


def test_minus_zero_date_is_aware_utc() -> None:
    assert load("rfc2047_from.eml").date == datetime(2026, 11, 26, 14, 10, tzinfo=UTC)


def test_folded_references_and_aware_date() -> None:
    msg = load("gmail_reply_es.eml")
    assert msg.references == ("t123.m1.dead@example.test", "t123.m2.beef@example.test")
    assert msg.date is not None and msg.date.utcoffset() is not None


def test_unknown_charset_does_not_crash() -> None:
    msg = load("unknown_charset.eml")
    assert "ñ" in msg.text
    assert msg.subject == "éste charset"
    assert msg.from_name == "Raro"
    assert any("x-unknown" in d for d in msg.defects)


def test_html_only_gives_text_without_markup() -> None:
    msg = load("html_only.eml")
    assert "<" not in msg.text and "alert" not in msg.text and "color" not in msg.text
    assert "Reporte & error" in msg.text
    assert "el log (https://acme.example/log/42)" in msg.text
    assert msg.content_type == "text/html"


def test_nested_mixed_alternative_related_prefers_plain() -> None:
    msg = load("nested_mixed_alternative_related.eml")
    assert msg.text == "Adjunto la captura y el log."
    names = [(a.filename, a.content_type) for a in msg.attachments]
    assert ("server.log", "application/octet-stream") in names
    assert any(ct == "image/png" for _, ct in names)
    log = next(a for a in msg.attachments if a.filename == "server.log")
    assert log.data == b"2026-11-26 ERROR boom\n"


def test_attachment_filenames_reduced_to_basename() -> None:
    msg = load("attachment_path_names.eml")
    assert [a.filename for a in msg.attachments] == ["passwd", "evil.exe"]
    assert msg.attachments[0].data.startswith(b"root:x:0:0")
    assert msg.text == "Van dos archivos."


def test_text_plain_attachment_is_not_the_body() -> None:
    msg = load("text_attachment_next_to_body.eml")
    assert msg.text == "Este es el cuerpo real."
    assert [a.filename for a in msg.attachments] == ["error.txt"]
    assert msg.attachments[0].data.strip() == b"LINE FROM THE ATTACHED LOG"


def test_backslashes_preserved_exactly() -> None:
    msg = load("backslashes.eml")
    assert msg.text == (
        "La ruta es C:\\temp\\new y el separador es \\n literal, "
        "tambien \\\\server\\share y \\x41.\n"
    )
    assert msg.subject == "Ruta C:\\temp\\new"


def test_r2_dsn_keeps_rfc822_part_as_message_eml() -> None:
    msg = load("dsn_bounce.eml")
    assert msg.return_path == ""
    assert msg.content_type == "multipart/report"
    eml = next(a for a in msg.attachments if a.filename == "message.eml")
    assert eml.content_type == "message/rfc822"
    assert b"<t200.m1.0a1b2c3d@example.test>" in eml.data
    status = next(a for a in msg.attachments if a.content_type == "message/delivery-status")
    assert b"Status: 5.1.1" in status.data
    assert "could not" in msg.text


def test_missing_headers_still_parse() -> None:
    no_id = load("no_message_id.eml")
    assert no_id.message_id is None and no_id.from_addr == "ana.perez@acme.example"
    no_from = load("no_from.eml")
    assert no_from.from_addr == "" and no_from.from_name == ""
    assert no_from.return_path is None and no_from.date is None


def test_empty_body_and_bad_date() -> None:
    msg = load("empty_body.eml")
    assert msg.text == "" and msg.new_content == "" and msg.subject == ""
    assert msg.date is None


def test_nul_bytes_removed() -> None:
    msg = load("nul_bytes.eml")
    assert msg.text == "Hola mundo.\n"
    assert msg.subject == "NUL test"


def test_long_line_kept_whole() -> None:
    assert load("long_line.eml").text == "x" * 5000 + "\n"


def test_eight_level_nesting_finds_body() -> None:
    assert load("nested_8_levels.eml").text.strip() == "Nivel mas profundo."


def test_duplicate_headers_first_wins_all_kept() -> None:
    msg = load("duplicate_subject.eml")
    assert msg.subject == "Primer asunto"
    assert msg.headers["subject"] == ("Primer asunto", "Segundo asunto")
    assert msg.message_id == "dup-subject@acme.example"


def test_delivered_to_and_return_path() -> None:
    msg = load("outlook_reply_es.eml")
    assert msg.delivered_to == ("soporte@example.test",)
    assert msg.return_path == "luis.garcia@acme.example"
    assert "soporte@example.test" in msg.recipients
    assert msg.from_name == "Garcia, Luis"
    assert msg.from_addr == "luis.garcia@acme.example"


def test_new_content_strips_quotes_in_corpus() -> None:
    assert load("outlook_reply_es.eml").new_content.endswith("Luis García")
    assert load("gmail_reply_es.eml").new_content.endswith("Saludos,\nAna")
    assert load("apple_mail_reply_en.eml").new_content.endswith("John")


def test_forward_by_subject_keeps_the_forwarded_message_as_content() -> None:
    # Issue 9 §4: "RV:" says Marta forwards Pedro's mail on purpose; agents need his words.
    content = load("outlook_reply_de_enviado.eml").new_content
    assert content.startswith("Les reenvío el mensaje de mi compañero")
    assert content.endswith(
        "De: Pedro Soto <pedro.soto@acme.example>\nEnviado: jueves, 26 de "
        "noviembre de 2026 17:30\nPara: Marta Ruiz <marta.ruiz@acme.example>\n"
        "Asunto: Acceso denegado\n\nNo puedo entrar al portal."
    )


def test_subject_folds_crlf_tab() -> None:
    raw = b"From: a@acme.example\nSubject: uno\n\tdos\n  tres\n\nx\n"
    assert parse(raw).subject == "uno dos tres"


def test_null_return_path_vs_absent() -> None:
    assert parse(b"Return-Path: <>\nFrom: a@acme.example\n\nx").return_path == ""
    assert parse(b"From: a@acme.example\n\nx").return_path is None


def test_deep_nesting_200_levels_does_not_crash_or_hang() -> None:
    head = b"From: a@acme.example\nSubject: deep\nMIME-Version: 1.0\n"
    body = b"Content-Type: text/plain\n\ndeep body\n"
    for i in reversed(range(200)):
        body = b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) + body
        body += b"\n--b%d--\n" % i
    start = time.perf_counter()
    msg = parse(head + body)
    assert time.perf_counter() - start < 5
    assert msg.subject == "deep"
    assert any("nest" in d for d in msg.defects)


def test_deep_nesting_2000_levels_falls_back_to_headers() -> None:
    raw = b"From: a@acme.example\nSubject: deeper\n" + (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\n" * 2000
    )
    msg = parse(raw)
    assert msg.subject == "deeper" and msg.defects


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", b"   ", b"just some text\nno headers"])
def test_not_mail_is_unparseable(raw: bytes) -> None:
    with pytest.raises(Unparseable):
        parse(raw)


def test_message_rfc822_forward_is_attachment() -> None:
    raw = (
        b"From: a@acme.example\nSubject: Fwd: x\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\n'
        b"see below\n--B\nContent-Type: message/rfc822\n\nFrom: b@acme.example\n"
        b"Subject: inner\nMessage-ID: <inner@acme.example>\n\ninner body\n--B--\n"
    )
    msg = parse(raw)
    assert msg.text.strip() == "see below"
    [att] = msg.attachments
    assert (att.filename, att.content_type) == ("message.eml", "message/rfc822")
    assert b"inner body" in att.data


def test_declared_charset_that_fails_records_defect() -> None:
    raw = b"From: a@acme.example\nContent-Type: text/plain; charset=utf-8\n\ncaf\xe9\n"
    msg = parse(raw)
    assert msg.text == "café\n"
    assert "charset: declared 'utf-8' failed, used windows-1252" in msg.defects


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("..", "attachment.bin"),
        ("", "attachment.bin"),
        (None, "attachment.bin"),
        ("a\x00b\x07.txt", "ab.txt"),
        ("report..pdf", "report_pdf"),
        (".bashrc", "bashrc"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name) == expected


def test_decode_bytes_order() -> None:
    defects: list[str] = []
    assert decode_bytes("ñ".encode(), "latin-1", defects, "x") == "Ã±"  # declared wins
    assert decode_bytes(b"\x81", None, defects, "x") == "\x81"  # undefined in cp1252
    assert any("latin-1" in d for d in defects)


def test_html_to_text_links_and_quotes() -> None:
    text = html_to_text(
        '<p>Hi <a href="mailto:a@b.example">write</a></p><blockquote>old</blockquote>'
    )
    assert text == "Hi write (a@b.example)\n\n> old"


def test_parse_is_fast_for_typical_message() -> None:
    raw = (CORPUS / "gmail_reply_es.eml").read_bytes()
    parse(raw)
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        parse(raw)
    per_message = (time.perf_counter() - start) / runs
    assert per_message < 0.02  # generous in CI; the benchmark target is < 2 ms


_HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Date",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Return-Path",
        "Content-Disposition",
        "Auto-Submitted",
        "X-Loop",
    ]
)
_HEADER_VALUES = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ")),
    st.sampled_from(
        [
            b"multipart/mixed; boundary=b",
            b"text/plain; charset=x-unknown",
            b"base64",
            b"quoted-printable",
            b"<>",
            b"=?utf-8?b?w6k=?=",
            b"=?bogus?q?=ZZ?=",
            b"<a@b> <a@b>",
            b"message/rfc822",
            b"text/html; charset=utf-16",
            b"attachment; filename=../x",
        ]
    ),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000))
def test_property_parse_arbitrary_bytes_only_raises_unparseable(raw: bytes) -> None:
    try:
        msg = parse(raw)
    except Unparseable:
        return
    assert isinstance(msg, Inbound)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), min_size=1, max_size=10),
    st.binary(max_size=1500),
)
def test_property_near_mail_always_parses(headers: list[tuple[str, bytes]], body: bytes) -> None:
    raw = b"".join(n.encode() + b": " + v + b"\r\n" for n, v in headers) + b"\r\n" + body
    msg = parse(raw)
    assert isinstance(msg.text, str) and "\x00" not in msg.text
    assert msg.subject == msg.subject.strip() and "\n" not in msg.subject
    assert all("/" not in a.filename for a in msg.attachments)
