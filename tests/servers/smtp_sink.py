"""An in-process SMTP server that keeps what it receives, or refuses on demand.

Why refusals: outbound delivery must survive a server that answers 451/550
and later accepts; tests flip `refuse` to reproduce that.

Strict mode (`strict = True`, or the `strict_smtp_sink` fixture) refuses a message with a
line over 998 octets (RFC 5322 §2.1.1) the way strict production servers do, with
`500 Line too long`: aiosmtpd itself lets lines through up to 1001 octets, so a mail with a
999-octet `References:` line would pass a lenient sink and bounce in production.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers.dovecot import free_port

REPLIES = {
    451: "451 4.3.0 Temporary failure, try again later",
    550: "550 5.7.1 Refused by test sink",
}
LINE_TOO_LONG = "500 5.5.2 Line too long (over 998 octets, RFC 5322 2.1.1)"
MAX_LINE = 998


@dataclass
class Received:
    """One accepted message: envelope plus the exact bytes."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        """The parsed message (for header assertions)."""
        msg = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class SmtpSink:
    """aiosmtpd Controller + handler. Set `refuse` to 451/550 (and `refuse_at`)."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refuse: int | None = None  # SMTP code to answer instead of accepting
        self.refuse_at = "RCPT"  # "RCPT" or "DATA"
        # Refuse only these recipients (at RCPT), as a server does for a mailbox that does
        # not exist; empty: `refuse` applies to every recipient.
        self.refuse_only: set[str] = set()
        self.refused = 0  # how many commands were refused
        self.strict = False  # refuse lines over 998 octets (and count them in `too_long`)
        self.too_long = 0
        # Advertise PIPELINING (RFC 2920), as Postfix and Exim do; aiosmtpd reads pipelined
        # commands in order but does not say so itself.
        self.pipelining = True
        self.sessions = 0  # EHLOs answered: one per SMTP session that said EHLO
        self.port = 0
        self._cv = threading.Condition()
        self._controller: Controller | None = None

    def outbound(self, **extra: Any) -> dict[str, Any]:
        """maildesk's `[outbound]` section for delivering to this sink (plain SMTP)."""
        return {"mode": "smtp", "host": self.host, "port": self.port, "starttls": False, **extra}

    # -- aiosmtpd handler hooks (found by name) -----------------------------
    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname  # the hook's job once it is defined (aiosmtpd)
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        chosen = not self.refuse_only or address.lower() in self.refuse_only
        if self.refuse and self.refuse_at == "RCPT" and chosen:
            self.refused += 1
            return REPLIES[self.refuse]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse and self.refuse_at == "DATA":
            self.refused += 1
            return REPLIES[self.refuse]
        raw = envelope.original_content or envelope.content
        if self.strict and any(len(line) > MAX_LINE for line in bytes(raw).split(b"\r\n")):
            self.too_long += 1
            return LINE_TOO_LONG
        with self._cv:
            self.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(raw))
            )
            self._cv.notify_all()
        return "250 OK"

    # -- lifecycle / assertions -------------------------------------------------
    def start(self) -> None:
        """Listen on a free port (Controller's readiness probe cannot use port 0)."""
        self.port = free_port(self.host)
        self._controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=5)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening; collected messages stay readable."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until n messages arrived; TimeoutError says how many did."""
        with self._cv:
            if not self._cv.wait_for(lambda: len(self.messages) >= n, timeout):
                raise TimeoutError(f"smtp sink: {len(self.messages)}/{n} messages")
            return list(self.messages[:n])
