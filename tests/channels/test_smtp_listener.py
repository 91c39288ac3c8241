"""SMTP/LMTP listener: a real smtplib client against the real aiosmtpd listener on a loopback
port and a real database (SQLite, and PostgreSQL when configured). The SMTP answer says what
the pipeline committed: 250 / 550 5.7.1 (P3, P1) / 552 (size) / 451 (database down, R8 §8)."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, text

from maildesk.app import App
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.store.db import Database
from maildesk.store.models import Blob, Inbox, Outbox, Quarantine, Ticket
from tests.helpers import count, make_mail, outbox
from tests.servers.dovecot import free_port

SUPPORT = "customerservice@support.example"


@pytest.fixture
def listen(app: App) -> Iterator[Callable[..., ListenerThread]]:
    """Start listeners on free loopback ports; all stopped at the end of the test."""
    started: list[ListenerThread] = []

    def start(a: App | None = None, mode: str = "smtp") -> ListenerThread:
        lt = ListenerThread(a or app, mode, "127.0.0.1", free_port())
        lt.start()
        started.append(lt)
        return lt

    yield start
    for lt in started:
        lt.stop()


def _send(lt: ListenerThread, raw: bytes, sender: str, rcpts: list[str]) -> tuple[int, bytes]:
    """One SMTP transaction; returns the DATA reply (or the refusal that ended it)."""
    with smtplib.SMTP(lt.host, lt.port, timeout=30) as c:
        c.ehlo()
        code, msg = c.mail(sender)
        assert code == 250, msg
        for r in rcpts:
            code, msg = c.rcpt(r)
            assert code == 250, msg
        return c.data(raw)


def test_p3_smtp_listener_250_and_ticket_for_registered_sender(app: App, listen: Any) -> None:
    lt = listen()
    code, msg = _send(lt, make_mail(), "ana@acme.example", [SUPPORT])
    assert (code, msg) == (250, b"2.0.0 OK ticket 1")
    assert count(app, Ticket) == 1
    (row,) = _ledger(app)
    assert row.outcome == "ticketed" and row.source.startswith("smtp:127.0.0.1:")
    (ack,) = outbox(app, "acknowledgement")
    assert ack.to_addr == "ana@acme.example"


def test_p3_smtp_listener_550_for_unregistered(app: App, listen: Any) -> None:
    lt = listen()
    raw = make_mail(sender="stranger@elsewhere.example")
    code, msg = _send(lt, raw, "stranger@elsewhere.example", [SUPPORT])
    assert code == 550 and msg.startswith(b"5.7.1 ")
    assert count(app, Ticket) == 0
    assert outbox(app) == []  # the sending MTA bounces: no rejected_unregistered notice too
    (row,) = _ledger(app)  # ...but the message is kept
    assert row.outcome == "rejected" and row.sender == "stranger@elsewhere.example"
    with app.db.transaction() as s:
        blob = s.get(Blob, row.raw_sha256)
        assert blob is not None and raw in blob.data


def test_p1_smtp_listener_550_for_expired_contract(app: App, listen: Any) -> None:
    lt = listen()
    code, msg = _send(lt, make_mail(sender="otto@oldco.example"), "otto@oldco.example", [SUPPORT])
    assert code == 550 and msg.startswith(b"5.7.1 ")
    assert count(app, Ticket) == 0 and outbox(app) == []
    assert [r.outcome for r in _ledger(app)] == ["rejected"]


def test_smtp_listener_552_for_too_large(make_app: Any, registry_file: Any, listen: Any) -> None:
    from maildesk.registry import import_registry_file

    a = make_app(limits={"max_message_bytes": 20_000})
    import_registry_file(a.db, registry_file)
    lt = listen(a)
    with smtplib.SMTP(lt.host, lt.port, timeout=30) as c:
        c.ehlo()
        assert c.has_extn("size") and c.esmtp_features["size"] == "20000"
        # Declared size over the limit: refused at MAIL FROM, before any data is sent.
        code, _ = c.mail("ana@acme.example", ["SIZE=50000"])
        assert code == 552
        c.rset()
        # Undeclared: aiosmtpd reads and discards the data, then answers 552 at the end.
        big = make_mail(body=("x" * 70 + "\n") * 400)
        c.mail("ana@acme.example")
        c.rcpt(SUPPORT)
        code, msg = c.data(big)
        assert (code, msg) == (552, b"5.3.4 Message too big for system")
        # The session goes on: a normal message right after is ticketed.
        assert c.sendmail("ana@acme.example", [SUPPORT], make_mail()) == {}
    assert count(a, Ticket) == 1
    assert [r.outcome for r in _ledger(a)] == ["ticketed"]


def test_s8_smtp_listener_451_on_database_down(
    app: App, db_url: str, listen: Any, tmp_path: Any
) -> None:
    # The same config on a database that cannot be reached (refused port / unopenable file).
    if db_url.startswith("postgresql"):
        down_url = "postgresql+psycopg://postgres@127.0.0.1:1/down?connect_timeout=2"
    else:
        down_url = f"sqlite:///{tmp_path}/no/such/dir/maildesk.db"
    down = App(app.cfg, Database(down_url))
    down.__dict__["secret"] = app.secret  # the daemon loaded it when it started
    try:
        lt = listen(down)
        code, msg = _send(lt, make_mail(), "ana@acme.example", [SUPPORT])
        assert code == 451 and msg.startswith(b"4.3.0 ")
    finally:
        down.db.dispose()


def test_s8_smtp_listener_451_when_database_locked_writes_nothing(
    make_app: Any, app: App, db_url: str, listen: Any
) -> None:
    """The real database, busy: nothing half-written; the MTA's retry is then ticketed once."""
    busy = make_app()
    pg = db_url.startswith("postgresql")

    @event.listens_for(busy.db.engine, "connect")
    def _short_waits(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SET lock_timeout = '300ms'" if pg else "PRAGMA busy_timeout=300")
        cur.close()
        if pg:
            dbapi_conn.commit()

    busy.db.engine.dispose()
    lt = listen(busy)
    raw = make_mail()
    before = (count(app, Inbox), count(app, Blob), count(app, Outbox))
    locker = Database(db_url)
    try:
        with locker.engine.connect() as conn:
            conn.begin()  # SQLite: BEGIN IMMEDIATE holds the write lock
            if pg:
                conn.execute(text("LOCK TABLE inbound IN ACCESS EXCLUSIVE MODE"))
            code, msg = _send(lt, raw, "ana@acme.example", [SUPPORT])
            conn.rollback()
    finally:
        locker.dispose()
    assert code == 451 and msg.startswith(b"4.3.0 ")
    assert (count(app, Inbox), count(app, Blob), count(app, Outbox)) == before
    assert count(app, Ticket) == 0 and count(app, Quarantine) == 0
    code, _ = _send(lt, raw, "ana@acme.example", [SUPPORT])  # the MTA retries
    assert code == 250 and count(app, Ticket) == 1


def test_r1_smtp_listener_same_message_twice_one_ticket(app: App, listen: Any) -> None:
    lt = listen()
    raw = make_mail()
    first = _send(lt, raw, "ana@acme.example", [SUPPORT])
    second = _send(lt, raw, "ana@acme.example", [SUPPORT])
    assert first == (250, b"2.0.0 OK ticket 1")
    assert second == (250, b"2.0.0 OK")  # done already: acknowledged, nothing new
    assert count(app, Ticket) == 1 and len(outbox(app, "acknowledgement")) == 1


def test_r1_smtp_listener_several_recipients_one_message(app: App, listen: Any) -> None:
    lt = listen()
    raw = make_mail(to=f"{SUPPORT}, soporte@support.example")
    code, _ = _send(lt, raw, "ana@acme.example", [SUPPORT, "soporte@support.example"])
    assert code == 250
    assert count(app, Ticket) == 1 and len(_ledger(app)) == 1


def test_lmtp_listener_one_reply_per_recipient(app: App, listen: Any) -> None:
    lt = listen(mode="lmtp")
    with smtplib.LMTP(lt.host, lt.port, timeout=30) as c:
        # smtplib.LMTP sends LHLO; its sendmail reads a single DATA reply, so with two
        # recipients read the second per-recipient reply by hand (RFC 2033 section 4.2).
        code, _ = c.ehlo()
        assert code == 250
        c.mail("ana@acme.example")
        c.rcpt(SUPPORT)
        c.rcpt("soporte@support.example")
        first = c.data(make_mail())
        second = c.getreply()
        assert first == second == (250, b"2.0.0 OK ticket 1")
        # Single recipient: plain smtplib.sendmail works and reports success.
        assert c.sendmail("stranger@x.example", [SUPPORT], make_mail()) == {}
    assert count(app, Ticket) == 2
    assert [r.source.split(":")[0] for r in _ledger(app)] == ["lmtp", "lmtp"]


def test_lmtp_listener_550_for_unregistered(app: App, listen: Any) -> None:
    lt = listen(mode="lmtp")
    with smtplib.LMTP(lt.host, lt.port, timeout=30) as c:
        c.ehlo()
        c.mail("stranger@elsewhere.example")
        c.rcpt(SUPPORT)
        c.rcpt("soporte@support.example")
        first = c.data(make_mail(sender="stranger@elsewhere.example"))
        second = c.getreply()
    assert first[0] == second[0] == 550
    assert count(app, Ticket) == 0 and outbox(app) == []


def test_r2_smtp_listener_null_sender_is_a_bounce_never_answered(app: App, listen: Any) -> None:
    """As the final delivery agent the listener adds Return-Path: <> for MAIL FROM:<>."""
    lt = listen()
    raw = make_mail(
        sender="MAILER-DAEMON@mx.acme.example",
        subject="Undelivered Mail Returned to Sender",
        body="This is the mail system. I'm sorry to have to inform you...\n",
    )
    code, _ = _send(lt, raw, "<>", [SUPPORT])
    assert code == 250
    assert count(app, Ticket) == 0 and outbox(app) == []
    (row,) = _ledger(app)
    assert row.outcome == "ignored"


def test_smtp_listener_accepts_lines_longer_than_rfc5321(app: App, listen: Any) -> None:
    head = make_mail().split(b"\n\n", 1)[0].replace(b"\n", b"\r\n")
    headers = head.replace(b"Content-Transfer-Encoding: 7bit", b"Content-Transfer-Encoding: 8bit")
    raw = headers + b"\r\n\r\n" + "línea larga ".encode() * 3000 + b"\r\n"  # one 39 KB line
    lt = listen()
    with smtplib.SMTP(lt.host, lt.port, timeout=30) as c:
        assert c.sendmail("ana@acme.example", [SUPPORT], raw) == {}
    assert count(app, Ticket) == 1


def test_smtp_listener_bug_quarantines_and_answers_250(
    app: App, listen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug is ours, not the sender's: the mail is kept for `quarantine replay`, not bounced."""

    def broken(*args: Any) -> Any:
        raise RuntimeError("bug in routing")

    monkeypatch.setattr("maildesk.pipeline.accept.route", broken)
    lt = listen()
    code, msg = _send(lt, make_mail(), "ana@acme.example", [SUPPORT])
    assert (code, msg) == (250, b"2.0.0 Message kept for review")
    with app.db.transaction() as s:
        (q,) = s.scalars(select(Quarantine))
        assert "bug in routing" in q.error and q.source.startswith("smtp:")
    assert count(app, Ticket) == 0 and count(app, Inbox) == 0


def test_smtp_listener_limits_concurrent_connections(make_app: Any, listen: Any) -> None:
    a = make_app(inbound={"mode": "none", "smtp": {"max_connections": 1}})
    lt = listen(a)
    first = smtplib.SMTP(lt.host, lt.port, timeout=30)
    try:
        with pytest.raises(smtplib.SMTPConnectError) as err:
            smtplib.SMTP(lt.host, lt.port, timeout=30)
        assert err.value.smtp_code == 421
    finally:
        first.quit()
    deadline = time.monotonic() + 5
    while True:  # the server notices the closed connection a moment later
        try:
            with smtplib.SMTP(lt.host, lt.port, timeout=30) as c:
                assert c.noop()[0] == 250
            break
        except smtplib.SMTPConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_smtp_listener_stop_releases_the_port(app: App) -> None:
    port = free_port()
    lt = ListenerThread(app, "smtp", "127.0.0.1", port)
    lt.start()
    lt.stop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free again


def _ledger(app: App) -> list[Inbox]:
    with app.db.transaction() as s:
        return list(s.scalars(select(Inbox).order_by(Inbox.id)))
