"""Issue 10, the trust boundary, attacked through the real SMTP listener (aiosmtpd, driven by
smtplib) on SQLite and PostgreSQL: forged Authentication-Results (SPEC §10)."""

from __future__ import annotations

import logging
import smtplib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.registry import import_registry_file
from maildesk.store.models import Event, Ticket
from tests.conftest import make_mail, outbox
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
