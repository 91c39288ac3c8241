"""What keeps one SMTP/LMTP client from starving the listener (SPEC §10 listener limits).

- a global connection cap (`max_connections`) and a per-peer one (`max_connections_per_peer`,
  default 10): one address holding its maximum leaves room for everybody else;
- an idle timeout (`idle_timeout`, default 60 s) reset by any byte the client sends, so a
  slow DATA transfer is not idle, and suspended while the pipeline works on a mail;
- a session deadline (`session_timeout`, default 10 min): one NOOP a minute no longer keeps a
  slot forever. A mail in the pipeline when it strikes is finished and answered first.

Each refusal or expiry is a 421 (the client retries later), written before the close.
Touched only from the listener's event loop thread: no locks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import Envelope

REPLY_BUSY = b"421 4.7.0 Too many connections, try again later\r\n"
REPLY_PEER_BUSY = b"421 4.7.0 Too many connections from your address, try again later\r\n"
REPLY_IDLE = b"421 4.4.2 Idle too long, closing connection\r\n"
REPLY_DEADLINE = b"421 4.4.2 Session time limit reached\r\n"
REPLY_TOO_BIG = "552 5.3.4 Message too big for system"
# aiosmtpd's own end-of-DATA refusals; rewritten with enhanced codes, repeated per LMTP recipient.
_AIOSMTPD_TOO_MUCH = "552 Error: Too much mail data"
_AIOSMTPD_LINE_TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"


@dataclass
class Gate:
    """Open connections of one listener, in all and by peer address, and its time limits."""

    limit: int
    per_peer: int = 10
    session_timeout: float = 600.0
    open: int = 0
    by_peer: Counter[str] = field(default_factory=Counter)

    def admit(self, peer: str) -> bytes | None:
        """Count a new connection in, or the 421 line refusing it."""
        if self.open >= max(self.limit, 1):
            return REPLY_BUSY
        if self.by_peer[peer] >= max(self.per_peer, 1):
            return REPLY_PEER_BUSY
        self.open += 1
        self.by_peer[peer] += 1
        return None

    def leave(self, peer: str) -> None:
        self.open -= 1
        self.by_peer[peer] -= 1
        if self.by_peer[peer] <= 0:
            del self.by_peer[peer]


def _peer_host(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


class LimitedServer:
    """Mixin for aiosmtpd's SMTP/LMTP (uses its `_reset_timeout`/`_timeout_cb` idle timer)."""

    gate: Gate
    envelope: Envelope | None
    transport: asyncio.BaseTransport | None
    loop: asyncio.AbstractEventLoop
    lmtp = False
    # RFC 5321 says 1000 octets a line, but real clients send longer (HTML on one line):
    # be liberal, the data size limit still bounds memory.
    line_length_limit = 1024 * 1024
    _maildesk_state = "new"  # new | counted | refused | closed
    _maildesk_peer = ""
    _maildesk_deadline: asyncio.TimerHandle | None = None
    busy = False  # the pipeline is working on this session's mail: no timeout strikes now
    expired = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._maildesk_state == "new":  # not the second call made by STARTTLS
            peer = _peer_host(transport)
            refusal = self.gate.admit(peer)
            if refusal is not None:
                self._maildesk_state = "refused"
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal)
                transport.close()
                return
            self._maildesk_state = "counted"
            self._maildesk_peer = peer
        super().connection_made(transport)  # type: ignore[misc]
        if self._maildesk_deadline is None:
            self._maildesk_deadline = self.loop.call_later(
                self.gate.session_timeout, self._session_expired
            )

    def connection_lost(self, error: Exception | None) -> None:
        if self._maildesk_state == "refused":
            return  # aiosmtpd never saw this connection
        if self._maildesk_state == "counted":
            self._maildesk_state = "closed"
            self.gate.leave(self._maildesk_peer)
        if self._maildesk_deadline is not None:
            self._maildesk_deadline.cancel()
        super().connection_lost(error)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        # aiosmtpd restarts its idle timer on each command only: a 25 MiB DATA taking longer
        # than the timeout would be cut off. Any byte from the client means it is alive.
        self._reset_timeout()  # type: ignore[attr-defined]
        super().data_received(data)  # type: ignore[misc]

    def _timeout_cb(self) -> None:
        if self.busy:  # our pipeline, not the client, is taking the time
            self._reset_timeout()  # type: ignore[attr-defined]
            return
        self._close_with(REPLY_IDLE)

    def _session_expired(self) -> None:
        self.expired = True
        if not self.busy:
            self._close_with(REPLY_DEADLINE)

    def finished_mail(self) -> None:
        """Called by the handler once a mail's answer is decided: a deadline that struck
        meanwhile closes the session right after that answer."""
        self.busy = False
        if self.expired:
            self.loop.call_soon(self._close_with, REPLY_DEADLINE)

    def _close_with(self, line: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(line)
        transport.close()

    async def push(self, status: Any) -> None:
        if status in (_AIOSMTPD_TOO_MUCH, _AIOSMTPD_LINE_TOO_LONG):
            line = REPLY_TOO_BIG if status == _AIOSMTPD_TOO_MUCH else "500 5.5.2 Line too long"
            count = len(self.envelope.rcpt_tos) if self.lmtp and self.envelope else 1
            status = "\r\n".join([line] * max(count, 1))
        await super().push(status)  # type: ignore[misc]
