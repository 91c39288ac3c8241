"""How a mail leaves: an SMTP session (implicit TLS or STARTTLS, AUTH from a password file)
or a file in a maildir. `sender.flush` decides what to send and records the result; a
transport only delivers bytes and says how it failed: for good (`PermanentError`, a 5xx),
not at all (`TransportUnavailable`: no session, nothing was tried), or for now (any other
`smtplib.SMTPException` or `OSError`).
"""

from __future__ import annotations

import contextlib
import ctypes
import mailbox
import os
import re
import smtplib
import socket
import ssl
import sys
import threading
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from maildesk.config import read_secret
from maildesk.errors import ConfigError

if TYPE_CHECKING:
    from maildesk.app import App


class PermanentError(Exception):
    """The peer refused for good (5xx): retrying cannot help."""


def server_said(code: int, text: bytes | str) -> str:
    """An SMTP reply as the server wrote it, "550 5.1.1 <a@b>: User unknown": this is what
    the agent and the operator read in the failure mail, `outbox list` and `tickets show`
    (not a Python repr of smtplib's tuple)."""
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(words.split())}"


class TransportUnavailable(ConnectionError):
    """No session at all (connect, TLS or login failed): stop this batch, retry later.

    An OSError, so callers that catch network errors around `connect()` keep working."""


#: One mail to deliver: envelope sender, recipient, the bytes.
Mail = tuple[str, str, bytes]
#: What `send_many` yields as each mail is done, in order: its index, and None or the error.
Done = tuple[int, Exception | None]


class Transport(Protocol):
    def send(self, sender: str, rcpt: str, raw: bytes) -> None: ...
    def send_many(self, mails: Sequence[Mail]) -> Generator[Done, None, None]: ...
    def close(self) -> None: ...


class MaildirTransport:
    """Embedded default: each mail becomes a file in ./outbox/new (tmp then rename).

    `mailbox.Maildir` makes the folders (0700) but creates files by the umask (0644 under
    the usual 022), so the file is written here, 0600: it holds a customer's mail."""

    def __init__(self, path: str) -> None:
        self.box = mailbox.Maildir(path, create=True)
        self.path = Path(path)
        self.count = 0

    def _name(self) -> str:
        self.count += 1
        name = f"{time.time():.6f}.P{os.getpid()}T{threading.get_ident()}Q{self.count}."
        return name + socket.gethostname().replace("/", "_").replace(":", "_")

    def _write(self, raw: bytes) -> tuple[str, int]:
        """The mail in tmp/, written but not yet synced: (name, open descriptor)."""
        name = self._name()
        fd = os.open(self.path / "tmp" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            self._discard(name)
            raise
        return name, fd

    def _discard(self, name: str) -> None:
        with contextlib.suppress(OSError):
            (self.path / "tmp" / name).unlink()

    def send(self, sender: str, rcpt: str, raw: bytes) -> None:
        for _, error in self.send_many([(sender, rcpt, raw)]):
            if error is not None:
                raise error

    def send_many(self, mails: Sequence[Mail]) -> Generator[Done, None, None]:
        """Every file written to tmp/ first, then synced together (`_sync`), then moved into
        new/ one by one, each yielded as delivered before the next moves: the caller records
        it in between. new/ is synced once at the end."""
        written: dict[int, tuple[str, int]] = {}
        failed: dict[int, Exception] = {}
        try:
            for i, (_, _, raw) in enumerate(mails):
                try:
                    written[i] = self._write(raw)
                except OSError as exc:
                    failed[i] = exc
            for i, error in _sync([fd for _, fd in written.values()], list(written)).items():
                failed[i] = error
                name, fd = written.pop(i)
                os.close(fd)
                self._discard(name)
            for i, (name, fd) in list(written.items()):
                os.close(fd)
                written[i] = (name, -1)
            for i in range(len(mails)):
                if i in failed:
                    yield i, failed[i]
                    continue
                name = written.pop(i)[0]
                try:
                    os.rename(self.path / "tmp" / name, self.path / "new" / name)
                except OSError as exc:
                    self._discard(name)
                    yield i, exc
                else:
                    yield i, None
        finally:
            for name, fd in written.values():  # the caller stopped early: not delivered
                if fd >= 0:
                    os.close(fd)
                self._discard(name)
            self._sync_new()

    def _sync_new(self) -> None:
        """A rename is durable once its folder is synced."""
        with contextlib.suppress(OSError):
            fd = os.open(self.path / "new", os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        self.box.close()


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _sync(fds: list[int], keys: list[int]) -> dict[int, OSError]:
    """Make the written files durable; returns the ones that failed, by key. On Linux one
    syncfs(2) for the batch (all in tmp/, one filesystem): each fsync(2) is a flush of the
    disk's cache, ~2-4 ms here, so a mail each cost more than everything else in the flush.
    Elsewhere, or if syncfs fails, one fsync per file."""
    if _LIBC is not None and fds and _LIBC.syncfs(fds[0]) == 0:
        return {}
    failed: dict[int, OSError] = {}
    for key, fd in zip(keys, fds, strict=True):
        try:
            os.fsync(fd)
        except OSError as exc:
            failed[key] = exc
    return failed


class SmtpTransport:
    """One SMTP session per flush: implicit TLS or STARTTLS, AUTH with a password file.

    `ssl_context` replaces the system trust store (tests with a private CA); config keys stay
    the contract, so operators trust a private CA through the system store.
    """

    def __init__(
        self,
        app: App,
        ssl_context: ssl.SSLContext | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        """`timeout`: seconds per socket operation, `outbound.timeout` unless given (`maildesk
        check` waits less)."""
        self.app = app
        self.ssl_context = ssl_context
        self.timeout = timeout or app.cfg.outbound.timeout
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        o = self.app.cfg.outbound
        ctx = self.ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP | None = None
        try:
            if o.ssl:
                conn = smtplib.SMTP_SSL(o.host, o.port, timeout=self.timeout, context=ctx)
            else:
                conn = smtplib.SMTP(o.host, o.port, timeout=self.timeout)
                if o.starttls:
                    conn.starttls(context=ctx)
            if o.username:
                password = read_secret(self.app.cfg, o.password_file, "outbound.password_file")
                conn.login(o.username, password)
            return conn
        except (smtplib.SMTPException, OSError, ConfigError) as exc:
            if conn is not None:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    conn.close()
            raise TransportUnavailable(
                f"smtp {o.host}:{o.port}: {type(exc).__name__}: {exc}"
            ) from exc

    def connect(self) -> None:
        """Open the session now (before claiming rows: a dead server costs no attempts)."""
        if self.conn is None:
            self.conn = self._connect()

    def send(self, sender: str, rcpt: str, raw: bytes) -> None:
        self.connect()
        assert self.conn is not None
        try:
            self.conn.sendmail(sender, [rcpt], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            if 500 <= code < 600:
                raise PermanentError(server_said(code, text)) from exc
            raise
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentError(server_said(exc.smtp_code, exc.smtp_error)) from exc
            raise
        except (smtplib.SMTPException, OSError):
            # Disconnect, timeout mid-DATA, protocol error: the session state is unknown,
            # so the next message starts a new one.
            self._drop()
            raise

    def send_many(self, mails: Sequence[Mail]) -> Generator[Done, None, None]:
        """Each mail in turn on this one session, yielded as the server answers its data.
        With PIPELINING (RFC 2920) its MAIL, RCPT and DATA go in one write and their replies
        are read together: two round trips a mail instead of four."""
        for i, (sender, rcpt, raw) in enumerate(mails):
            try:
                self._send_one(sender, rcpt, raw)
            except (PermanentError, smtplib.SMTPException, OSError) as exc:
                yield i, exc
            else:
                yield i, None

    def _send_one(self, sender: str, rcpt: str, raw: bytes) -> None:
        self.connect()
        assert self.conn is not None
        conn = self.conn
        try:
            conn.ehlo_or_helo_if_needed()
            pipelining = conn.has_extn("pipelining") and (sender + rcpt).isascii()
            if pipelining:
                _pipelined(conn, sender, rcpt, raw)
                return
        except (PermanentError, smtplib.SMTPResponseException):
            raise  # refused: the session itself is fine (reset in _pipelined)
        except (smtplib.SMTPException, OSError):
            self._drop()
            raise
        self.send(sender, rcpt, raw)

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.conn.quit()
            self._drop()


_PERIODS = re.compile(rb"(?m)^\.")


class Refused(smtplib.SMTPResponseException):
    """A 4xx answer inside a pipelined mail: try that mail again later."""

    def __str__(self) -> str:
        return server_said(self.smtp_code, self.smtp_error)


def _pipelined(conn: smtplib.SMTP, sender: str, rcpt: str, raw: bytes) -> None:
    """One mail with MAIL, RCPT and DATA sent together; a refusal raises as `send` does
    (5xx: PermanentError) after resetting the session for the next mail."""
    size = f" SIZE={len(raw)}" if conn.has_extn("size") else ""
    envelope = (
        f"MAIL FROM:{smtplib.quoteaddr(sender)}{size}\r\n"
        f"RCPT TO:{smtplib.quoteaddr(rcpt)}\r\nDATA\r\n"
    )
    conn.send(envelope.encode("ascii"))
    mail, to, data = conn.getreply(), conn.getreply(), conn.getreply()
    refused: tuple[int, bytes] | None = None
    if mail[0] != 250:
        refused = mail
    elif to[0] not in (250, 251):
        refused = to
    elif data[0] != 354:
        refused = data
    if refused is not None:
        if data[0] == 354:  # DATA taken although the envelope failed: send an empty mail
            conn.send(b".\r\n")
            conn.getreply()
        conn.rset()
        code, text = refused
        if 500 <= code < 600:
            raise PermanentError(server_said(code, text))
        raise Refused(code, text)
    body = _PERIODS.sub(b"..", raw)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    conn.send(body + b".\r\n")
    code, text = conn.getreply()
    if code != 250:
        if 500 <= code < 600:
            raise PermanentError(server_said(code, text))
        raise Refused(code, text)


def make_transport(app: App) -> Transport:
    if app.cfg.outbound.mode == "maildir":
        return MaildirTransport(str(app.outbox_dir))
    return SmtpTransport(app)
