"""Forged bounces (issue 10 finding 2, SPEC §10 Bounces) through the real SMTP listener, the
real outbound sink and SQLite/PostgreSQL: a DSN suppresses only the address its outbox row
was sent to, only for a permanent 5.x.x status, recorded on that contact and its tickets."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.outbound.sender import flush
from maildesk.registry import import_registry_file
from maildesk.store.models import Contact, Event, Outbox
from tests.helpers import make_mail, outbox
from tests.servers.dovecot import free_port
from tests.servers.smtp_sink import SmtpSink

SUPPORT = "customerservice@support.example"
ATTACKER = "ana@acme.example"
VICTIM = "gina@globex.example"


def dsn(to: str, recipient: str, original_id: str, status: str = "5.1.1") -> bytes:
    """A delivery status notification as an MTA writes it (RFC 3464)."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{status}-{original_id[:10]}@mx.acme.example>
Auto-Submitted: auto-replied
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
Status: {status}

--B
Content-Type: text/rfc822-headers

Message-ID: <{original_id}>
To: {recipient}
Subject: Acuse

--B--
""".replace("\n", "\r\n").encode()


@pytest.fixture
def app(make_app: Any, registry_file: Any, smtp_sink: SmtpSink) -> App:
    a = make_app(outbound=smtp_sink.outbound())
    import_registry_file(a.db, registry_file)
    return a


@pytest.fixture
def listener(app: App) -> Iterator[ListenerThread]:
    lt = ListenerThread(app, "smtp", "127.0.0.1", free_port())
    lt.start()
    yield lt
    lt.stop()


def _send(lt: ListenerThread, raw: bytes, envelope_from: str, rcpt: str = SUPPORT) -> int:
    with smtplib.SMTP(lt.host, lt.port, timeout=30) as c:
        code, _ = c.ehlo()
        c.mail(envelope_from)
        c.rcpt(rcpt)
        code, _ = c.data(raw)
        return code


def _open(lt: ListenerThread, sender: str, n: int) -> Outbox:
    """`sender` opens a ticket; its acknowledgement is delivered. Returns that outbox row."""
    assert _send(lt, make_mail(sender=sender, message_id=f"<t{n}@x.example>"), sender) == 250
    (ack,) = [r for r in outbox(lt.app, "acknowledgement") if r.to_addr == sender]
    return ack


def _suppressed(app: App, email: str) -> datetime | None:
    with app.db.transaction() as s:
        contact = s.scalar(select(Contact).where(Contact.email == email))
        assert contact is not None
        return contact.suppressed_until


def _events(app: App, kind: str) -> list[Event]:
    with app.db.transaction() as s:
        return list(s.scalars(select(Event).where(Event.kind == kind)))


def test_i10_forged_bounce_naming_another_customer_silences_nobody(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """The attack: a registered customer writes a DSN for the victim's address, quoting the
    Message-ID of their own acknowledgement."""
    mine = _open(listener, ATTACKER, 1)
    _open(listener, VICTIM, 2)
    flush(app)
    assert _send(listener, dsn(SUPPORT, VICTIM, mine.message_id), "") == 250
    assert _suppressed(app, VICTIM) is None
    assert _suppressed(app, ATTACKER) is None  # the DSN does not even name its own row's address
    # the victim still gets automatic mail
    assert _send(listener, make_mail(sender=VICTIM, message_id="<t3@x.example>"), VICTIM) == 250
    assert len([r for r in outbox(app, "acknowledgement") if r.to_addr == VICTIM]) == 2


def test_i10_bounce_to_the_return_path_suppresses_only_that_rows_recipient(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """A genuine bounce comes back to the row's return path: it suppresses that row's
    recipient, and only it, whatever address the report names."""
    row = _open(listener, ATTACKER, 1)
    _open(listener, VICTIM, 2)
    flush(app)
    (sent,) = [m for m in smtp_sink.messages if m.rcpt_tos == [ATTACKER]]
    return_path = sent.mail_from
    assert _send(listener, dsn(return_path, VICTIM, row.message_id), "", rcpt=return_path) == 250
    assert _suppressed(app, VICTIM) is None
    until = _suppressed(app, ATTACKER)
    assert until is not None and until > datetime.now(UTC)
    # recorded on the contact and on the ticket of the mail that bounced, not elsewhere
    (event,) = _events(app, "contact_suppressed")
    with app.db.transaction() as s:
        contact = s.scalar(select(Contact).where(Contact.email == ATTACKER))
        assert event.contact_id == contact.id
    assert event.ticket_number == row.ticket_number
    (bounce,) = _events(app, "bounce")
    assert bounce.ticket_number == row.ticket_number and bounce.detail["outbox_id"] == row.id


def test_i10_temporary_failure_suppresses_nobody(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    row = _open(listener, ATTACKER, 1)
    flush(app)
    (sent,) = [m for m in smtp_sink.messages if m.rcpt_tos == [ATTACKER]]
    raw = dsn(sent.mail_from, ATTACKER, row.message_id, status="4.2.2")
    assert _send(listener, raw, "", rcpt=sent.mail_from) == 250
    assert _suppressed(app, ATTACKER) is None
    (bounce,) = _events(app, "bounce")
    assert bounce.detail["permanent"] is False


def test_i10_bounce_quoting_a_message_id_suppresses_only_that_rows_recipient(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """A DSN sent to the plain support address (an old mail's, or an MTA that ignores the
    envelope) counts only when its permanent failure is for the row's own recipient."""
    row = _open(listener, ATTACKER, 1)
    flush(app)
    assert _send(listener, dsn(SUPPORT, ATTACKER, row.message_id), "") == 250
    assert _suppressed(app, ATTACKER) is not None
