"""Outgoing mail bytes (§7): loop-guard headers, threading, no header injection, and a
round trip through the stdlib parser for any text (property test)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.outbound.compose import compose
from maildesk.outbound.flowed import unflow

BASE = dict(
    from_addr="customerservice@support.example",
    from_name="Soporte técnico",
    to="ana@acme.example",
    message_id="md.1.abc.def@support.example",
    date=datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
    loop_address="customerservice@support.example",
)


def _parse(raw: bytes):
    """Parse as a mail client would (line ends normalised, as after SMTP delivery)."""
    return message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)


def test_s7_automatic_mail_headers() -> None:
    raw = compose(
        **BASE,
        subject="[BITAM #1] hola",
        text="Hola\n",
        auto_submitted="auto-replied",
        in_reply_to="cust-1@acme.example",
        references=["cust-1@acme.example"],
    )
    m = _parse(raw)
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["X-Auto-Response-Suppress"] == "All"
    assert m["X-Loop"] == "customerservice@support.example"
    assert m["In-Reply-To"] == "<cust-1@acme.example>"
    assert m["Message-ID"] == "<md.1.abc.def@support.example>"
    assert str(m["From"]) == "Soporte técnico <customerservice@support.example>"
    assert m.get_content() == "Hola\n"


def test_s7_relayed_answer_carries_no_auto_submitted() -> None:
    m = _parse(compose(**BASE, subject="x", text="y", auto_submitted=None))
    assert m["Auto-Submitted"] is None and m["X-Auto-Response-Suppress"] is None
    assert m["X-Loop"] == "customerservice@support.example"


def test_s7_subject_cannot_inject_headers() -> None:
    raw = compose(
        **BASE,
        subject="hola\r\nBcc: evil@x.example",
        text="t",
        auto_submitted="auto-replied",
        reply_to="a@b.example\nX-Evil: 1",
    )
    m = _parse(raw)
    assert m["Bcc"] is None and m["X-Evil"] is None
    assert m["Subject"] == "hola Bcc: evil@x.example"


def test_s7_attachment_text_has_utf8_charset_and_html_alternative() -> None:
    raw = compose(
        **BASE,
        subject="cierre",
        text="Transcripción\n",
        html="<p>hola</p>",
        auto_submitted="auto-generated",
        attachments=[("transcript-1.txt", "text/plain", "Años ñ\n".encode())],
    )
    m = _parse(raw)
    assert m.get_content_type() == "multipart/mixed"
    (att,) = list(m.iter_attachments())
    assert att.get_filename() == "transcript-1.txt"
    assert att.get_content() == "Años ñ\n"
    assert m.get_body(("plain",)).get_content() == "Transcripción\n"
    assert m.get_body(("html",)).get_content().strip() == "<p>hola</p>"


@settings(max_examples=150, deadline=None)
@given(
    subject=st.text(max_size=300),
    text=st.text(max_size=2000),
    filename=st.text(min_size=1, max_size=60),
)
def test_s7_round_trip_any_text(subject: str, text: str, filename: str) -> None:
    raw = compose(
        **BASE,
        subject=subject,
        text=text,
        auto_submitted="auto-replied",
        attachments=[(filename, "application/octet-stream", b"\x00\xff data")],
    )
    m = _parse(raw)
    assert "\n" not in str(m["Subject"]) and "\r" not in str(m["Subject"])
    body = unflow(m.get_body(("plain",)).get_content())
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    expected = "\n".join(line.rstrip(" ") for line in expected.split("\n"))
    assert body.rstrip("\n") == expected.rstrip("\n")
    (att,) = list(m.iter_attachments())
    assert att.get_content() == b"\x00\xff data"


def test_s7_internationalised_recipient_address_is_utf8() -> None:
    raw = compose(
        **{**BASE, "to": "josé@acme.example"}, subject="x", text="y", auto_submitted="auto-replied"
    )
    assert "josé@acme.example".encode() in raw
