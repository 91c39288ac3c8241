"""Self-tests of the test servers: if these fail, every IMAP/SMTP test result is suspect."""

from __future__ import annotations

import smtplib
import threading
import time
from email.message import EmailMessage

import pytest

from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink


def mail(n: int, to: str = "support@example.test") -> bytes:
    m = EmailMessage()
    m["From"] = f"customer{n}@example.org"
    m["To"] = to
    m["Subject"] = f"Ticket {n}"
    m["Message-ID"] = f"<selftest-{n}-{time.time_ns()}@example.org>"
    m.set_content(f"Hello {n}\n")
    return m.as_bytes()


@pytest.mark.imap
def test_dovecot_append_and_fetch(dovecot: Dovecot) -> None:
    raw = mail(1)
    dovecot.append(None, raw)
    assert dovecot.folder_count(None, "INBOX") == 1
    got = dovecot.messages(None, "INBOX")
    assert got[0].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert dovecot.folder_count(None, "Nope") == 0
    with dovecot.session() as c:
        caps = c.capabilities()
    assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= set(caps)


@pytest.mark.imap
def test_dovecot_users_are_separate(dovecot: Dovecot) -> None:
    dovecot.append(dovecot.users[1], mail(2))
    assert dovecot.folder_count(dovecot.users[0]) == 0
    assert dovecot.folder_count(dovecot.users[1]) == 1


@pytest.mark.imap
def test_dovecot_idle_wakes_on_append_from_other_connection(dovecot: Dovecot) -> None:
    idler = dovecot.client()
    try:
        idler.select_folder("INBOX")
        idler.idle()
        t = threading.Timer(0.3, lambda: dovecot.append(None, mail(3)))
        t.start()
        started = time.monotonic()
        responses: list = []
        while not responses and time.monotonic() - started < 3:
            responses = idler.idle_check(timeout=0.5)
        idler.idle_done()
        t.join()
    finally:
        idler.logout()
    assert any(r[1] == b"EXISTS" for r in responses if isinstance(r, tuple)), responses


@pytest.mark.imap
def test_dovecot_restart_keeps_mail_and_port(dovecot: Dovecot) -> None:
    dovecot.append(None, mail(4))
    port = dovecot.port
    dovecot.restart()
    assert dovecot.port == port
    assert dovecot.folder_count(None, "INBOX") == 1


def send(sink: SmtpSink, n: int) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as s:
        s.send_message(_email(n))


def _email(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "support@example.test"
    m["To"] = "customer@example.org"
    m["Subject"] = f"Re: [#{n}] printer"
    m.set_content("We are on it.\n")
    return m


def test_smtp_sink_collects(smtp_sink: SmtpSink) -> None:
    send(smtp_sink, 1)
    (got,) = smtp_sink.wait_for(1)
    assert got.rcpt_tos == ["customer@example.org"]
    assert got.message["Subject"] == "Re: [#1] printer"


@pytest.mark.parametrize(("code", "stage"), [(451, "RCPT"), (550, "RCPT"), (451, "DATA")])
def test_smtp_sink_refuses_then_accepts(smtp_sink: SmtpSink, code: int, stage: str) -> None:
    smtp_sink.refuse, smtp_sink.refuse_at = code, stage
    with pytest.raises(smtplib.SMTPException) as err:
        send(smtp_sink, 2)
    exc = err.value
    got = getattr(exc, "smtp_code", None)
    if got is None:  # SMTPRecipientsRefused: {rcpt: (code, msg)}
        got = next(iter(exc.recipients.values()))[0]  # type: ignore[attr-defined]
    assert got == code
    assert smtp_sink.refused == 1 and smtp_sink.messages == []
    smtp_sink.refuse = None
    send(smtp_sink, 3)
    assert len(smtp_sink.wait_for(1)) == 1


@pytest.mark.parametrize("length", [998, 999])
def test_strict_smtp_sink_enforces_998_octet_lines(strict_smtp_sink: SmtpSink, length: int) -> None:
    """998 octets pass, 999 are refused with 500, as a strict server does (aiosmtpd alone
    accepts up to 1001)."""
    head = b"References: "
    raw = (
        b"From: a@example.test\r\nTo: b@example.test\r\nSubject: x\r\n"
        + head
        + b"<"
        + b"x" * (length - len(head) - 2)
        + b">\r\n\r\nbody\r\n"
    )
    with smtplib.SMTP(strict_smtp_sink.host, strict_smtp_sink.port, timeout=5) as s:
        if length == 998:
            s.sendmail("a@example.test", ["b@example.test"], raw)
            assert strict_smtp_sink.wait_for(1)[0].raw.split(b"\r\n")[3] == raw.split(b"\r\n")[3]
            return
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("a@example.test", ["b@example.test"], raw)
    assert err.value.smtp_code == 500 and b"Line too long" in err.value.smtp_error
    assert strict_smtp_sink.too_long == 1 and strict_smtp_sink.messages == []
