"""Placeholders for big base64 runs change nothing: same tree once restored, same Inbound."""

from __future__ import annotations

import base64
import email.message
import hashlib
import random
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.errors import Unparseable
from maildesk.mail import elide
from maildesk.mail.elide import Elided
from maildesk.mail.inbound import Inbound
from maildesk.mail.mime import TEXT_LIMIT
from maildesk.mail.parse import _message_from_bytes, parse

CORPUS_FILES = sorted((Path(__file__).resolve().parents[1] / "corpus").glob("*.eml"))


def shape(msg: email.message.Message) -> list[tuple[object, ...]]:
    """Everything the parser decided, part by part."""
    out: list[tuple[object, ...]] = []
    for part in msg.walk():
        payload = part._payload
        out.append(
            (
                part.get_unixfrom(),
                part.raw_items() and list(part.raw_items()),
                payload if isinstance(payload, str) else len(payload),
                part.preamble,
                part.epilogue,
                [type(d).__name__ for d in part.defects],
            )
        )
    return out


def parse_both(raw: bytes) -> tuple[Inbound | str, Inbound | str]:
    """parse() as usual and with every base64 line run replaced by a placeholder."""

    def one() -> Inbound | str:
        try:
            return parse(raw)
        except Unparseable as exc:
            return f"unparseable: {exc}"

    plain = one()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(elide, "MIN_MESSAGE", 0)
        mp.setattr(elide, "MIN_RUN", 1)
        elided = one()
    return plain, elided


def trees(raw: bytes) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
    plain, none = _message_from_bytes(raw, [])
    assert none is None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(elide, "MIN_MESSAGE", 0)
        mp.setattr(elide, "MIN_RUN", 1)
        msg, elided = _message_from_bytes(raw, [])
    spans = 0
    if elided is not None:
        spans = len(elided.spans)
        elided.restore_tree(msg)
    return shape(plain), shape(msg), spans


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_same_with_placeholders(path: Path) -> None:
    raw = path.read_bytes()
    plain, elided = parse_both(raw)
    assert plain == elided
    before, after, _ = trees(raw)
    assert before == after


_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_LINE = st.one_of(
    st.sampled_from(
        [
            b"Content-Type: multipart/mixed; boundary=b",
            b"Content-Type: multipart/alternative; boundary=c",
            b"Content-Type: message/delivery-status",
            b"Content-Type: message/rfc822",
            b"Content-Type: text/plain; charset=utf-8",
            b"Content-Type: text/html",
            b"Content-Type: application/octet-stream; name=a.bin",
            b"Content-Transfer-Encoding: base64",
            b"Content-Transfer-Encoding: quoted-printable",
            b"Content-Disposition: attachment; filename=a.bin",
            b"Final-Recipient: rfc822; x@y.example",
            b"From: b@c.example",
            b"From x@y Thu Jan  1 00:00:00 2026",
            b"--b",
            b"--b--",
            b"--c",
            b"--c--",
            b"",
            b" folded",
            b"QUJD",
            b"QUJDRA==",
            b"QUJDRA",
            b"Q",
            b"=",
            b"caf\xe9",
            b"a=20b",
        ]
    ),
    st.text(alphabet=_B64_CHARS, min_size=1, max_size=90).map(str.encode),
)
_EOL = st.sampled_from([b"\n", b"\r\n", b"\n", b"\r\n", b"\r", b""])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_LINE, _EOL), max_size=50))
def test_property_generated_mail_same_with_placeholders(lines: list[tuple[bytes, bytes]]) -> None:
    raw = b"From: a@b.example\r\nSubject: x\n" + b"".join(line + eol for line, eol in lines)
    plain, elided = parse_both(raw)
    assert plain == elided
    before, after, _ = trees(raw)
    assert before == after


def mails() -> Iterator[tuple[str, bytes]]:
    rng = random.Random(5)
    data = rng.randbytes(3000)
    body = base64.encodebytes(data)
    crlf = body.replace(b"\n", b"\r\n")
    head = b"From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
    mixed = head + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    part = b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
    yield "attachment", mixed + part + b"\r\n" + crlf + b"--b--\r\n"
    yield "no final newline", mixed + part + b"\r\n" + crlf.rstrip() + b"\r\n--b--"
    yield "preamble", mixed + crlf + b"--b\r\n\r\nhi\r\n--b--\r\n" + crlf
    yield "no blank line", mixed + part + crlf + b"--b--\r\n"
    yield "unpadded", mixed + part + b"\r\n" + crlf.rstrip(b"=\r\n") + b"\r\n--b--\r\n"
    yield "junk line inside", mixed + part + b"\r\n" + crlf[:800] + b"!!\r\n" + crlf[800:]
    yield "text body", head + b"\r\n" + body
    yield "base64 text body", head + b"Content-Transfer-Encoding: base64\r\n\r\n" + crlf
    rfc822 = head + b"Content-Type: message/rfc822\r\n\r\n" + head + b"\r\n" + crlf
    yield "message/rfc822", rfc822
    dsn = (
        mixed
        + b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n"
        + crlf
        + b"\r\nFinal-Recipient: rfc822; a@b\r\n"
        + crlf
        + b"--b--\r\n"
    )
    yield "delivery-status", dsn
    m = EmailMessage()
    m["From"] = "a@b.example"
    m.set_content("hola")
    m.add_attachment(data, maintype="application", subtype="pdf", filename="x.pdf")
    m.add_attachment(m.as_bytes(), maintype="application", subtype="zip", filename="y.zip")
    yield "stdlib-built", m.as_bytes()


@pytest.mark.parametrize(("name", "raw"), list(mails()), ids=[n for n, _ in mails()])
def test_structures_same_with_placeholders(name: str, raw: bytes) -> None:
    plain, elided = parse_both(raw)
    assert plain == elided
    before, after, spans = trees(raw)
    assert spans > 0, "nothing was replaced: the case tests nothing"
    assert before == after


def test_big_attachment_is_decoded_from_the_raw_mail() -> None:
    """Default thresholds: a 1.5 MiB attachment in a mail over MIN_MESSAGE is elided."""
    data = random.Random(9).randbytes(1_500_000)
    m = EmailMessage()
    m["From"] = "Ana <ana@acme.example>"
    m["Subject"] = "dump"
    m.set_content("adjunto\n")
    m.add_attachment(data, maintype="application", subtype="octet-stream", filename="d.bin")
    raw = m.as_bytes()
    assert len(raw) >= elide.MIN_MESSAGE
    assert Elided(raw).spans
    msg = parse(raw)
    assert msg.raw is raw
    assert msg.text == "adjunto\n"
    [att] = msg.attachments
    assert (att.filename, att.content_type) == ("d.bin", "application/octet-stream")
    assert att.size == len(data)
    assert att.data == data
    assert att.sha256 == hashlib.sha256(data).hexdigest()


def test_placeholders_cannot_be_forged() -> None:
    """A mail that contains what looks like a placeholder keeps its own text."""
    raw = b"From: a@b.example\n\n" + base64.encodebytes(bytes(100_000))
    first, second = Elided(raw, min_run=1), Elided(raw, min_run=1)
    assert first.nonce != second.nonce
    forged = b"From: a@b.example\n\n" + second.placeholder(0) + b"\n" + raw[19:]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(elide, "MIN_MESSAGE", 0)
        mp.setattr(elide, "MIN_RUN", 1)
        msg = parse(forged)
    assert msg.text.startswith(second.placeholder(0).decode() + "\n")


def _big_text_mail(lines: int, multipart: bool) -> bytes:
    rng = random.Random(3)
    words = ["error", "conexión", "año", "--", "a: b", "12:30:01", "—"]
    body = b"".join(
        (" ".join(rng.choice(words) for _ in range(8)) + "\r\n").encode() for _ in range(lines)
    )
    head = b"From: ana@acme.example\r\nSubject: log\r\nMIME-Version: 1.0\r\n"
    text = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    if not multipart:
        return head + text + b"\r\n" + body
    return (
        head
        + b"Content-Type: multipart/alternative; boundary=zz\r\n\r\npreamble\r\n--zz\r\n"
        + text
        + b"\r\n"
        + body
        + b"--zz\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>"
        + body
        + b"</p>\r\n--zz--\r\n"
    )


@pytest.mark.parametrize("multipart", [False, True])
def test_i10_long_text_body_elided_and_cut(multipart: bool) -> None:
    """A 2 MiB log in the body: parsed from placeholders, kept whole in `raw`, its text cut
    at mime.TEXT_LIMIT on a line end, with a defect saying so."""
    raw = _big_text_mail(45_000, multipart)
    assert len(raw) > 2 * TEXT_LIMIT
    assert Elided(raw).spans
    msg = parse(raw)
    assert msg.raw is raw
    assert msg.text.endswith("\n[…]\n") and len(msg.text) < 1.1 * TEXT_LIMIT
    first_line = raw.split(b"\r\n\r\n")[2 if multipart else 1].split(b"\r\n")[0]
    assert msg.text.startswith(first_line.decode() + "\n")
    assert any(d.startswith("body: text cut to ") for d in msg.defects)
    assert msg.attachments == ()


@pytest.mark.parametrize("multipart", [False, True])
def test_i10_text_runs_keep_the_tree_with_default_thresholds(multipart: bool) -> None:
    raw = _big_text_mail(30_000, multipart)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(elide, "MIN_MESSAGE", len(raw) + 1)
        plain, none = _message_from_bytes(raw, [])
    assert none is None
    msg, elided = _message_from_bytes(raw, [])
    assert elided is not None and elided.spans
    elided.restore_tree(msg)
    assert shape(plain) == shape(msg)
