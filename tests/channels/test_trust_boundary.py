"""Issue 10, the trust boundary, attacked through the real SMTP listener (aiosmtpd, driven by
smtplib) on SQLite and PostgreSQL: forged Authentication-Results (SPEC §10)."""

from __future__ import annotations

import logging
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.registry import import_registry_file
from maildesk.store.models import Blob, Event, Message, Ticket
from tests.helpers import make_mail, outbox
from tests.servers.dovecot import free_port

SUPPORT = "customerservice@support.example"
AGENT = "agente1@support.example"
MX = "mx.support.example"
PASS = f"{MX}; dkim=pass header.d=support.example; dmarc=pass header.from=support.example"
MX_RECEIVED = (
    "Received: from attacker.example (attacker.example [192.0.2.7])\n"
    f"\tby {MX} (Postfix) with ESMTPS id 4Xy; Wed, 25 Nov 2026 10:00:00 -0600\n"
)


@pytest.fixture
def listen() -> Iterator[Callable[..., ListenerThread]]:
    started: list[ListenerThread] = []

    def start(app: App) -> ListenerThread:
        lt = ListenerThread(app, "smtp", "127.0.0.1", free_port())
        lt.start()
        started.append(lt)
        return lt

    yield start
    for lt in started:
        lt.stop()


def _secure(make_app: Any, registry_file: Any, **security: Any) -> App:
    app = make_app(security={"trusted_authserv_ids": [MX], **security})
    import_registry_file(app.db, registry_file)
    return app


def _send(lt: ListenerThread, raw: bytes, sender: str) -> tuple[int, bytes]:
    with smtplib.SMTP(lt.host, lt.port, timeout=30) as c:
        c.ehlo()
        assert c.mail(sender)[0] == 250
        assert c.rcpt(SUPPORT)[0] == 250
        return c.data(raw)


def _open_ticket(lt: ListenerThread) -> None:
    code, msg = _send(lt, make_mail(message_id="<c1@acme.example>"), "ana@acme.example")
    assert (code, msg) == (250, b"2.0.0 OK ticket 1")


def _as_agent(top: str = "", headers: dict[str, str] | None = None) -> bytes:
    """The attacker's mail: From an agent, a command and an answer for the customer; `top`
    is what sits above the mail's own header block (what the hops in front prepended)."""
    raw = make_mail(
        sender=AGENT,
        subject="Re: [BITAM #1] El reporte de ventas no carga",
        body="#resolve\nYa quedó resuelto, puede cerrar.\n",
        headers=headers,
    )
    return top.encode() + raw


def _ticket_state(app: App) -> str:
    with app.db.transaction() as s:
        t = s.get(Ticket, 1)
        assert t is not None
        return t.state


def _events(app: App, kind: str) -> list[Event]:
    with app.db.transaction() as s:
        return list(s.scalars(select(Event).where(Event.kind == kind)))


def test_i10_forged_authentication_results_to_listener_ignored_and_recorded(
    make_app: Any, registry_file: Any, listen: Any
) -> None:
    """A client talking to the listener directly: maildesk is the receiving hop, so a header
    naming our MX was written by the sender, wherever it sits."""
    app = _secure(make_app, registry_file)
    lt = listen(app)
    _open_ticket(lt)
    code, msg = _send(lt, _as_agent(f"Authentication-Results: {PASS}\n"), "ana@acme.example")
    assert code == 550 and b"not authenticated" in msg
    assert _ticket_state(app) == "open"
    assert outbox(app, "agent_reply") == [] and outbox(app, "resolved") == []
    (ev,) = _events(app, "authentication_results_ignored")
    assert ev.ticket_number == 1 and ev.detail["authserv_ids"] == [MX]


def test_i10_forged_authentication_results_below_relays_received_not_believed(
    make_app: Any, registry_file: Any, listen: Any
) -> None:
    """Through the trusted MTA: its own header on top says dmarc=none; the sender's copy
    below the MTA's Received: says pass. Only the top one counts."""
    app = _secure(make_app, registry_file, trusted_relays=["127.0.0.1"])
    lt = listen(app)
    _open_ticket(lt)
    top = f"Authentication-Results: {MX}; dmarc=none header.from=support.example\n" + MX_RECEIVED
    raw = _as_agent(top, headers={"Authentication-Results": PASS})
    code, _ = _send(lt, raw, AGENT)
    assert code == 550
    assert _ticket_state(app) == "open" and outbox(app, "agent_reply") == []
    (ev,) = _events(app, "authentication_results_ignored")
    assert ev.detail["authserv_ids"] == [MX]


def test_i10_relays_authentication_results_above_its_received_believed(
    make_app: Any, registry_file: Any, listen: Any
) -> None:
    app = _secure(make_app, registry_file, trusted_relays=["127.0.0.0/8"])
    lt = listen(app)
    _open_ticket(lt)
    code, _ = _send(lt, _as_agent(f"Authentication-Results: {PASS}\n" + MX_RECEIVED), AGENT)
    assert code == 250
    assert _ticket_state(app) == "resolved"
    assert len(outbox(app, "agent_reply")) == 1
    assert _events(app, "authentication_results_ignored") == []


@pytest.mark.parametrize(
    "header",
    [
        f'"{MX}"; dmarc=pass header.from=support.example',  # quoted authserv-id
        f"{MX}.; dmarc=pass header.from=support.example",  # not the same name
        f"{MX}; dmarc=pass",  # a pass for no stated From domain
        f"{MX}; dmarc=pass header.from=acme.example",  # a pass for another domain
    ],
)
def test_i10_authentication_results_parsed_strictly(
    make_app: Any, registry_file: Any, listen: Any, header: str
) -> None:
    app = _secure(make_app, registry_file, trusted_relays=["127.0.0.1"])
    lt = listen(app)
    _open_ticket(lt)
    code, _ = _send(lt, _as_agent(f"Authentication-Results: {header}\n" + MX_RECEIVED), AGENT)
    assert code == 550
    assert _ticket_state(app) == "open" and outbox(app, "agent_reply") == []


# --- finding 5: the listener's small holes --------------------------------------------------


def _mail_of_size(size: int) -> bytes:
    """A registered customer's mail of exactly `size` bytes on the wire (CRLF lines)."""
    head = make_mail(body="x\n").replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    head = head.replace(b"\n", b"\r\n") + b"\r\n\r\n"
    line = b"y" * 70 + b"\r\n"
    body = line * ((size - len(head)) // len(line))
    body += b"z" * (size - len(head) - len(body) - 2) + b"\r\n"
    raw = head + body
    assert len(raw) == size
    return raw


def test_i10_mail_of_the_advertised_size_is_taken(make_app: Any, registry_file: Any, listen: Any):
    """The Return-Path maildesk prepends is not the sender's: a mail exactly at the SIZE we
    advertise must not be refused for it after DATA."""
    app = make_app(limits={"max_message_bytes": 8192})
    import_registry_file(app.db, registry_file)
    lt = listen(app)
    with smtplib.SMTP(lt.host, lt.port, timeout=30) as c:
        c.ehlo()
        assert c.esmtp_features["size"] == "8192"
        assert c.mail("ana@acme.example", ["SIZE=8192"])[0] == 250
        assert c.rcpt(SUPPORT)[0] == 250
        code, msg = c.data(_mail_of_size(8192))
    assert (code, msg) == (250, b"2.0.0 OK ticket 1")


def _raw_session(lt: ListenerThread, lines: list[bytes]) -> list[bytes]:
    """Send SMTP command lines as raw bytes; the server's reply to each."""
    with socket.create_connection((lt.host, lt.port), timeout=30) as sock:
        f = sock.makefile("rb")

        def reply() -> bytes:
            out = b""
            while True:
                line = f.readline()
                out += line
                if len(line) < 4 or line[3:4] != b"-":
                    return out

        reply()  # greeting
        answers = []
        for line in lines:
            sock.sendall(line + b"\r\n")
            answers.append(reply())
        return answers


def test_i10_undecodable_mail_from_refused_without_internals(app: App, listen: Any) -> None:
    lt = listen(app)
    ehlo, mail = _raw_session(lt, [b"EHLO client.example", b"MAIL FROM:<\xff\xfeana@acme.example>"])
    assert ehlo.startswith(b"250")
    assert mail.startswith(b"553 5.1.7 ")
    assert b"Error" not in mail and b"Unicode" not in mail


def test_i10_undecodable_rcpt_to_refused_without_internals(app: App, listen: Any) -> None:
    lt = listen(app)
    answers = _raw_session(
        lt, [b"EHLO client.example", b"MAIL FROM:<ana@acme.example>", b"RCPT TO:<\xffsupport>"]
    )
    assert answers[-1].startswith(b"553 5.1.3 ") and b"Unicode" not in answers[-1]


def test_i10_protocol_trace_logged_at_debug_only(app: App, listen: Any, caplog: Any) -> None:
    """Addresses and every protocol line are personal data: not in the INFO log."""
    lt = listen(app)
    caplog.set_level(logging.INFO)
    _open_ticket(lt)
    trace = [r for r in caplog.records if r.name == "mail.log"]
    assert not [r for r in trace if r.levelno >= logging.INFO and r.levelno < logging.WARNING]
    assert not any("ana@acme.example" in r.getMessage() for r in trace)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="mail.log")
    code, _ = _send(lt, make_mail(message_id="<c2@acme.example>"), "ana@acme.example")
    assert code == 250
    debug = [r.getMessage() for r in caplog.records if r.name == "mail.log"]
    assert any("ana@acme.example" in m for m in debug)


# --- finding 3: the listener cannot be starved ----------------------------------------------


def _greeting(sock: socket.socket) -> bytes:
    return sock.makefile("rb").readline()


def test_i10_one_peer_holding_its_maximum_does_not_lock_out_another(app: App, listen: Any) -> None:
    """50 idle connections from one address took every slot (421 for everyone for 300 s)."""
    lt = listen(app)
    held: list[socket.socket] = []
    try:
        greetings = []
        for _ in range(50):
            sock = socket.create_connection(
                (lt.host, lt.port), timeout=30, source_address=("127.0.0.2", 0)
            )
            held.append(sock)
            greetings.append(_greeting(sock)[:3])
        assert greetings.count(b"220") == 10  # listener.max_connections_per_peer
        assert set(greetings[10:]) == {b"421"}
        _open_ticket(lt)  # another client still delivers
    finally:
        for sock in held:
            sock.close()


def _until_closed(sock: socket.socket, ping: bytes | None = None) -> bytes:
    """Everything the server says until it closes the connection (sending `ping` after each
    reply, as a client that keeps a session alive with NOOP would)."""
    f = sock.makefile("rb")
    said = b""
    while True:
        line = f.readline()
        said += line
        if not line or line.startswith(b"421"):
            return said
        if ping is not None:
            time.sleep(0.1)
            sock.sendall(ping)


def test_i10_idle_connection_closed_after_the_idle_timeout(make_app: Any, listen: Any) -> None:
    app = make_app(inbound={"mode": "none", "smtp": {"idle_timeout": 0.5}})
    lt = listen(app)
    with socket.create_connection((lt.host, lt.port), timeout=30) as sock:
        said = _until_closed(sock)
    assert said.startswith(b"220 ") and b"421 4.4.2 " in said


def test_i10_noop_cannot_hold_a_slot_past_the_session_deadline(make_app: Any, listen: Any):
    app = make_app(inbound={"mode": "none", "smtp": {"session_timeout": 1.5}})
    lt = listen(app)
    with socket.create_connection((lt.host, lt.port), timeout=30) as sock:
        said = _until_closed(sock, ping=b"NOOP\r\n")
    assert b"250 " in said and said.rstrip().endswith(b"421 4.4.2 Session time limit reached")


def test_i10_slow_data_transfer_is_not_idle(make_app: Any, registry_file: Any, listen: Any) -> None:
    """Only a silent client is idle: a DATA transfer slower than the idle timeout goes on."""
    app = make_app(inbound={"mode": "none", "smtp": {"idle_timeout": 0.5}})
    import_registry_file(app.db, registry_file)
    lt = listen(app)
    lines = make_mail().replace(b"\r\n", b"\n").split(b"\n")
    with socket.create_connection((lt.host, lt.port), timeout=30) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"220")
        for cmd in (
            b"HELO c.example",
            b"MAIL FROM:<ana@acme.example>",
            f"RCPT TO:<{SUPPORT}>".encode(),
            b"DATA",
        ):
            sock.sendall(cmd + b"\r\n")
            assert f.readline()[:1] in (b"2", b"3")
        for line in lines:  # the whole mail takes several idle timeouts
            sock.sendall(line + b"\r\n")
            time.sleep(0.15)
        sock.sendall(b".\r\n")
        assert f.readline().startswith(b"250 2.0.0 OK ticket 1")


# --- finding 4: large mail through the listener ---------------------------------------------


def test_i10_large_mails_at_once_spooled_and_stored_whole(
    make_app: Any, registry_file: Any, listen: Any
) -> None:
    """Three 2 MiB text mails at once, spooled past 64 KiB: each one ticketed, its raw bytes
    stored exactly as sent (dots unstuffed), its ticket text cut, the original kept whole."""
    app = make_app(limits={"large_message_bytes": 64 * 1024, "large_messages_at_once": 1})
    import_registry_file(app.db, registry_file)
    lt = listen(app)
    lines = "".join(f".{i:06d} conexión perdida: año índice\r\n" for i in range(50_000))
    raws = [
        make_mail(message_id=f"<big{n}@acme.example>", body=lines).replace(b"\n", b"\r\n")
        for n in range(3)
    ]
    raws = [r.replace(b"\r\r\n", b"\r\n") for r in raws]
    replies: list[tuple[int, bytes]] = [(0, b"")] * 3

    def send(n: int) -> None:
        replies[n] = _send(lt, raws[n], "ana@acme.example")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in replies) == [250, 250, 250]
    with app.db.transaction() as s:
        stored = {
            m.message_id: (m.body, s.get(Blob, m.raw_sha256).data)
            for m in s.scalars(select(Message).where(Message.direction == "in"))
        }
    for n, raw in enumerate(raws):
        body, blob = stored[f"big{n}@acme.example"]
        trace = f"Return-Path: <ana@acme.example>\r\nDelivered-To: {SUPPORT}\r\n".encode()
        assert blob == trace + raw
        assert body.startswith(".000000 conexión perdida") and body.endswith("[…]")
