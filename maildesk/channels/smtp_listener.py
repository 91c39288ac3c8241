"""SMTP/LMTP listener (aiosmtpd): the embedded default inbound channel, and LMTP for Postfix/Exim.

The channel only moves bytes: each message goes to pipeline.accept once, in a worker thread,
and the SMTP answer says what the pipeline committed. 250 only after the commit; 451 when the
database is unavailable (nothing written, the sending MTA retries); 550 5.7.1 for P3/P1
rejections and 552 5.3.4 for oversized mail (the sending MTA bounces, so no notice is queued:
the rejection and the raw message are still recorded in the ledger). A message the pipeline
cannot read is kept in quarantine and answered 250 "kept for review": it is not lost, and a
4xx would only make the MTA retry a poison message for days, a 5xx bounce a customer's mail
for our bug. LMTP answers once per recipient, all alike: one message to several of our
addresses is one message (R1).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from maildesk.channels.smtp_data import SpooledData, spool_of
from maildesk.channels.smtp_limits import REPLY_TOO_BIG, Gate, LimitedServer
from maildesk.errors import TemporaryFailure
from maildesk.pipeline.accept import accept_or_quarantine
from maildesk.pipeline.outcome import Kind, Outcome, Refusal

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.smtp_listener")

MAX_RECIPIENTS = 100
REPLY_TEMPORARY = "451 4.3.0 Temporary failure, please try again later"
REPLY_BAD_SENDER = "553 5.1.7 The sender address is not valid UTF-8"
REPLY_BAD_RECIPIENT = "553 5.1.3 The recipient address is not valid UTF-8"


def reply_for(outcome: Outcome) -> str:
    """The SMTP status line for one pipeline outcome (all of them mean: committed)."""
    if outcome.kind is Kind.REJECTED:
        if outcome.refusal is Refusal.TOO_LARGE:
            return REPLY_TOO_BIG
        reason = " ".join(outcome.reason.split()) or "not accepted"
        return f"550 5.7.1 Message refused: {reason}"
    if outcome.kind is Kind.QUARANTINED:
        return "250 2.0.0 Message kept for review"
    if outcome.ticket_number is not None and outcome.kind in (Kind.TICKETED, Kind.FOLLOWED_UP):
        return f"250 2.0.0 OK ticket {outcome.ticket_number}"
    return "250 2.0.0 OK"


def with_return_path(mail_from: str | None, raw: bytes, rcpt_tos: Sequence[str] = ()) -> bytes:
    """As the final delivery agent we add Return-Path (RFC 5321 4.4): R2 needs the null
    sender; and, as Dovecot's LDA and LMTP do, a Delivered-To per envelope recipient: a DSN
    names the return path it came back to there even when its To: says something else (R2),
    and so does a mail sent Bcc to `support+<number>@` (R7)."""
    if mail_from is None:
        return raw

    def clean(address: str) -> bytes:
        return "".join(ch for ch in address if ch not in "\r\n<>").encode("utf-8")

    lines = [b"Return-Path: <" + clean(mail_from) + b">\r\n"]
    lines += [b"Delivered-To: " + clean(rcpt) + b"\r\n" for rcpt in rcpt_tos]
    return b"".join(lines) + raw


def _utf8(address: str | None) -> bool:
    try:
        (address or "").encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _TraceAtDebug(logging.Filter):
    """aiosmtpd logs every protocol line, sender and recipient at INFO (logger `mail.log`):
    personal data in the daemon's everyday journal. Those records are demoted to DEBUG and
    kept only when `mail.log` is set to DEBUG; its warnings stay as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_TRACE_AT_DEBUG = _TraceAtDebug()


class _SpooledServer(LimitedServer, SpooledData):
    envelope: Envelope | None

    def spool_prefix(self) -> bytes:
        if self.envelope is None:
            return b""
        return with_return_path(self.envelope.mail_from, b"", self.envelope.rcpt_tos)


class _SmtpServer(_SpooledServer, SMTP):
    pass


class _LmtpServer(_SpooledServer, LMTP):
    lmtp = True


class InboundHandler:
    """aiosmtpd hooks (found by name): each message to the pipeline, once, off the event loop."""

    def __init__(self, app: App, mode: str, workers: int) -> None:
        self.app = app
        self.mode = mode
        limits = app.cfg.limits
        self.large_bytes = limits.large_message_bytes
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"maildesk-{mode}")
        # Large mails get their own few threads: parsed a few at a time while the others wait
        # in their spool files on disk, and always on the same threads, so that glibc's
        # per-thread arenas do not each keep a large mail's worth of memory (8 workers
        # taking turns held 365 MiB after 8 mails of 25 MiB; one thread: see BENCHMARKS.md).
        self.large_executor = ThreadPoolExecutor(
            max(limits.large_messages_at_once, 1), thread_name_prefix=f"maildesk-{mode}-large"
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; with `wait`, let the mails in the pipeline finish."""
        self.executor.shutdown(wait=wait)
        self.large_executor.shutdown(wait=wait)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # aiosmtpd keeps undecodable bytes as surrogates; refused here, they would make
        # handle_DATA fail with an internal error after the client sent the whole mail.
        if not _utf8(address):
            return REPLY_BAD_SENDER
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not _utf8(address):
            return REPLY_BAD_RECIPIENT
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        spool = spool_of(envelope)
        if spool is None:  # aiosmtpd's own DATA (not used by our server classes)
            content = envelope.original_content or envelope.content or b""
            raw = (
                content
                if isinstance(content, bytes)
                else content.encode("utf-8", "surrogateescape")
            )
            spool = io.BytesIO(with_return_path(envelope.mail_from, raw, envelope.rcpt_tos))
        peer = session.peer
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        source = f"{self.mode}:{where}"
        loop = asyncio.get_running_loop()
        limited = server if isinstance(server, LimitedServer) else None
        if limited is not None:
            limited.busy = True
        try:
            size = spool.seek(0, io.SEEK_END)
            spool.seek(0)
            pool = self.large_executor if size > self.large_bytes else self.executor
            reply = await loop.run_in_executor(pool, self.deliver_spooled, spool, source)
        finally:
            if limited is not None:
                limited.finished_mail()
        if self.mode == "lmtp":
            return "\r\n".join([reply] * max(len(envelope.rcpt_tos), 1))
        return reply

    async def handle_exception(self, error: Exception) -> str:
        """A bug in a hook: logged here with its traceback, answered as a temporary failure
        (nothing was committed; the client keeps the mail and retries), never with internals."""
        log.error("smtp listener: internal error", exc_info=error)
        return REPLY_TEMPORARY

    def deliver_spooled(self, spool: IO[bytes], source: str) -> str:
        """Worker thread: the spooled message into memory only now, when its turn came."""
        return self.deliver(spool.read(), source)

    def deliver(self, raw: bytes, source: str) -> str:
        """Worker thread: run the pipeline and turn what it committed into a status line."""
        try:
            outcome = accept_or_quarantine(self.app, raw, source, notices=False)
        except TemporaryFailure as exc:
            log.warning("smtp listener: temporary failure source=%s error=%s", source, exc)
            return REPLY_TEMPORARY
        except Exception:
            # Even quarantining failed: nothing was kept, so the MTA must keep the message.
            log.exception("smtp listener: could not process or quarantine source=%s", source)
            return REPLY_TEMPORARY
        return reply_for(outcome)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Controller(Controller):
    """aiosmtpd's threaded controller, building our SMTP/LMTP subclass per connection."""

    def __init__(self, handler: InboundHandler, gate: Gate, server_cls: type, **kwargs: Any):
        super().__init__(handler, **kwargs)
        self.gate = gate
        self.server_cls = server_cls

    def factory(self) -> SMTP:
        server = self.server_cls(self.handler, **self.SMTP_kwargs)
        server.gate = self.gate
        server.spool_bytes = self.handler.app.cfg.limits.large_message_bytes
        return server


class ListenerThread:
    """The SMTP or LMTP listener in its own thread (aiosmtpd Controller); start() and stop()."""

    def __init__(
        self, app: App, mode: str = "smtp", host: str | None = None, port: int | None = None
    ) -> None:
        if mode not in ("smtp", "lmtp"):
            raise ValueError(f"listener mode must be smtp or lmtp, not {mode!r}")
        conf = app.cfg.inbound.smtp if mode == "smtp" else app.cfg.inbound.lmtp
        self.app = app
        self.mode = mode
        self.host = host or conf.host
        # aiosmtpd's readiness probe connects to the port, so port 0 means "pick one now".
        self.port = port if port else (conf.port if port is None else _free_port(self.host))
        self.conf = conf
        self.max_connections = conf.max_connections
        self._handler: InboundHandler | None = None
        self._controller: _Controller | None = None

    def start(self) -> None:
        """Listen; returns once the server answers (raises if the port cannot be bound)."""
        logging.getLogger("mail.log").addFilter(_TRACE_AT_DEBUG)  # once: same object
        handler = InboundHandler(self.app, self.mode, max(1, min(self.max_connections, 8)))
        self._handler = handler
        conf = self.conf
        self._controller = _Controller(
            handler,
            Gate(self.max_connections, conf.max_connections_per_peer, conf.session_timeout),
            _LmtpServer if self.mode == "lmtp" else _SmtpServer,
            hostname=self.host,
            port=self.port,
            ready_timeout=10,
            server_hostname=self.app.cfg.support_domain or "localhost",
            data_size_limit=self.app.cfg.limits.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            timeout=conf.idle_timeout,
        )
        try:
            self._controller.start()
        except BaseException:
            self._controller = None
            handler.shutdown(wait=False)
            self._handler = None
            raise
        log.info("%s listener on %s:%s", self.mode, self.host, self.port)

    def stop(self) -> None:
        """Stop listening, then let a message already handed to the pipeline finish."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._handler is not None:
            self._handler.shutdown(wait=True)
            self._handler = None
