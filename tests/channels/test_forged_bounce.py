"""Forged bounces (issue 10 finding 2, SPEC §10 Bounces) through the real SMTP listener, the
real outbound sink and SQLite/PostgreSQL: a DSN suppresses only the address its outbox row
was sent to, only for a permanent 5.x.x status, recorded on that contact and its tickets."""

from __future__ import annotations

import io
import smtplib
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from maildesk.app import App
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.cli import main
from maildesk.daemon import Daemon
from maildesk.mail.verp import return_path
from maildesk.outbound.sender import flush
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.registry import import_registry_file
from maildesk.store.models import Contact, Event, Inbox, Outbox, Ticket
from tests.cli.helpers import write_config
from tests.helpers import count, make_mail, outbox, wait_until
from tests.servers.daemon import sections, start_daemon
from tests.servers.dovecot import Dovecot, free_port
from tests.servers.smtp_sink import Received, SmtpSink

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


def test_i10_bounce_quoting_a_leaked_message_id_silences_nobody(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """Message-IDs are no secret: every reply carries ours in References, to whoever is in
    Cc. An outsider who read the victim's reply writes a DSN for the victim's address, quoting
    the victim's own acknowledgement, to the plain support address: recorded on the ticket,
    never obeyed (before: the victim got no automatic mail for 30 days)."""
    row = _open(listener, VICTIM, 1)
    flush(app)
    forged = dsn(SUPPORT, VICTIM, row.message_id).replace(
        b"MAILER-DAEMON@mx.acme.example", b"MAILER-DAEMON@mx.outsider.example"
    )
    assert _send(listener, forged, "") == 250
    assert _suppressed(app, VICTIM) is None
    (bounce,) = _events(app, "bounce")
    assert bounce.ticket_number == row.ticket_number
    assert bounce.detail["via"] == "message_id" and bounce.detail["permanent"] is False
    assert _events(app, "contact_suppressed") == []


def test_i10_bounce_found_by_its_envelope_recipient(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """Some MTAs address a DSN's To: to the original From (the support address), not to the
    return path: the listener's Delivered-To carries the envelope recipient, and the row."""
    row = _open(listener, VICTIM, 1)
    flush(app)
    sent = _ack(smtp_sink, row)
    assert _send(listener, dsn(SUPPORT, VICTIM, row.message_id), "", rcpt=sent.mail_from) == 250
    assert _suppressed(app, VICTIM) is not None
    (bounce,) = _events(app, "bounce")
    assert bounce.detail["via"] == "return_path" and bounce.detail["outbox_id"] == row.id


def test_i10_bounce_to_a_forged_return_path_silences_nobody(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """A return path made up for the victim's row (the MAC cannot be), and one for a row
    that never existed: nobody suppressed, nothing recorded on the victim's ticket."""
    row = _open(listener, VICTIM, 1)
    flush(app)
    genuine = _ack(smtp_sink, row).mail_from
    local, _, domain = genuine.rpartition("@")
    made_up = f"{local[:-12]}{'0' * 12}@{domain}"
    no_row = return_path(b"another key", SUPPORT, 999999)
    for n, to in enumerate((made_up, no_row)):
        raw = dsn(to, VICTIM, row.message_id).replace(b"<dsn-", f"<dsn{n}-".encode())
        assert _send(listener, raw, "", rcpt=to) == 250
    assert _suppressed(app, VICTIM) is None
    assert _events(app, "bounce") == [] and _events(app, "contact_suppressed") == []
    assert _ledger(app, "R2: bounce to a return path we never used") == 2


def test_i10_mail_to_a_return_path_is_never_customer_mail(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """Whatever arrives at a return path is a bounce or a robot's answer (RFC 3834 §3.3):
    written like a customer's mail, by a registered customer or a stranger, it opens no
    ticket, is answered by nothing (no acknowledgement, no refusal, no 550) and, naming no
    failure (found playing it by hand: a version number read as a 5.x.x status), suppresses
    nobody."""
    row = _open(listener, VICTIM, 1)
    flush(app)
    sent = _ack(smtp_sink, row)
    queued = len(outbox(app))
    for n, sender in enumerate((VICTIM, "pedro@gmail.example")):
        body = "Con la versión 5.2.1 sigue fallando.\n"  # a version number, no status
        mail = make_mail(
            sender=sender, to=sent.mail_from, body=body, message_id=f"<rp{n}@x.example>"
        )
        assert _send(listener, mail, sender, rcpt=sent.mail_from) == 250
    assert len(outbox(app)) == queued
    with app.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
        outcomes = list(s.scalars(select(Inbox.outcome).order_by(Inbox.id)))
    assert outcomes == ["ticketed", "followed_up", "followed_up"]
    bounces = _events(app, "bounce")
    assert {b.ticket_number for b in bounces} == {row.ticket_number}
    assert _suppressed(app, VICTIM) is None


def _ledger(app: App, reason: str) -> int:
    with app.db.transaction() as s:
        rows = s.scalars(select(Inbox.reason).where(Inbox.reason == reason))
        return len(list(rows))


def _ack(sink: SmtpSink, row: Outbox) -> Received:
    """The acknowledgement `row` as the SMTP server received it (envelope and all)."""
    (sent,) = [m for m in sink.messages if m.message["Message-ID"] == f"<{row.message_id}>"]
    return sent


@pytest.mark.imap
def test_i10_bounces_by_imap_and_by_ingest_suppress_only_their_rows_recipient(
    make_app: Callable[..., App],
    registry_file: Path,
    tmp_path: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    daemons: list[Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same rules when the DSN comes from the mailbox (the running daemon, IMAP IDLE)
    or from `maildesk ingest` (an MTA's pipe): a genuine DSN back at a return path
    suppresses that row's recipient, recorded on that contact and ticket; a forged one at
    the support address silences nobody; none of them is answered."""
    app = make_app(**sections(tmp_path, dovecot, smtp_sink))
    import_registry_file(app.db, registry_file)
    d = start_daemon(app, daemons)
    wait_until(lambda: d.consumer and d.consumer.state == "idle", 20, "the consumer to IDLE")
    for n, sender in enumerate((ATTACKER, VICTIM)):
        dovecot.append(None, make_mail(sender=sender, message_id=f"<i{n}@x.example>"))
    wait_until(lambda: len(outbox(app, "acknowledgement")) == 2, 20, "two acknowledgements")
    mine, theirs = (outbox(app, "acknowledgement", to=a)[0] for a in (ATTACKER, VICTIM))
    wait_until(lambda: len(smtp_sink.messages) >= len(outbox(app)), 20, "the mail sent")
    queued = len(outbox(app))

    # The mailbox: the MDA wrote the envelope on top, as Dovecot's LDA does.
    to_theirs = _ack(smtp_sink, theirs).mail_from
    genuine = dsn(to_theirs, VICTIM, theirs.message_id)
    dovecot.append(None, f"Return-Path: <>\r\nDelivered-To: {to_theirs}\r\n".encode() + genuine)
    dovecot.append(None, dsn(SUPPORT, ATTACKER, mine.message_id, status="5.7.1"))
    wait_until(lambda: count(app, Inbox) == 4, 20, "both DSNs recorded")
    assert _suppressed(app, VICTIM) is not None and _suppressed(app, ATTACKER) is None
    (event,) = _events(app, "contact_suppressed")
    assert event.ticket_number == theirs.ticket_number and event.detail["address"] == VICTIM

    # `maildesk ingest`, as an MTA's pipe runs it, on the same database.
    cfg = write_config(tmp_path, app.cfg.database.url)
    path = tmp_path / "dsn.eml"
    path.write_bytes(dsn(_ack(smtp_sink, mine).mail_from, ATTACKER, mine.message_id))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["--config", str(cfg), "ingest", str(path)]) == 0
    assert _suppressed(app, ATTACKER) is not None
    suppressed = {e.ticket_number: e.contact_id for e in _events(app, "contact_suppressed")}
    assert suppressed.keys() == {mine.ticket_number, theirs.ticket_number}
    assert outbox(app)[queued:] == []  # nothing answered any of them


def test_i10_bounce_of_a_mail_without_ticket_still_suppresses_its_contact(
    app: App, listener: ListenerThread, smtp_sink: SmtpSink
) -> None:
    """A refusal has no ticket (P1: Otto's contract ended): its permanent DSN still stops
    automatic mail to Otto, recorded on his contact; the DSN itself is ignored, kept."""
    otto = "otto@oldco.example"
    out = accept(app, make_mail(sender=otto, message_id="<o1@x.example>"), "imap:t/INBOX/1:1")
    assert out.kind is Kind.REJECTED
    (row,) = outbox(app, "contract_expired")
    flush(app)
    to = _ack(smtp_sink, row).mail_from
    assert _send(listener, dsn(to, otto, row.message_id), "", rcpt=to) == 250
    assert _suppressed(app, otto) is not None
    ((bounce, ticket),) = [(e.detail["outbox_id"], e.ticket_number) for e in _events(app, "bounce")]
    assert (bounce, ticket) == (row.id, None)
    (event,) = _events(app, "contact_suppressed")
    assert event.ticket_number is None and event.contact_id is not None
    assert _ledger(app, "R2: bounce of a mail without ticket") == 1
