"""How a mail leaves: an SMTP session (implicit TLS or STARTTLS, AUTH from a password file)
or a file in a maildir. `sender.flush` decides what to send and records the result; a
transport only delivers bytes and says how it failed: for good (`PermanentError`, a 5xx),
not at all (`TransportUnavailable`: no session, nothing was tried), or for now (any other
`smtplib.SMTPException` or `OSError`).
"""

from __future__ import annotations

import contextlib
import mailbox
import os
import smtplib
import socket
import ssl
import threading
import time
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


class Transport(Protocol):
    def send(self, sender: str, rcpt: str, raw: bytes) -> None: ...
    def close(self) -> None: ...


class MaildirTransport:
    """Embedded default: each mail becomes a file in ./outbox/new (tmp then rename).

    `mailbox.Maildir` makes the folders (0700) but creates files by the umask (0644 under
    the usual 022), so the file is written here, 0600: it holds a customer's mail."""

    def __init__(self, path: str) -> None:
        self.box = mailbox.Maildir(path, create=True)
        self.path = Path(path)
        self.count = 0

    def send(self, sender: str, rcpt: str, raw: bytes) -> None:
        self.count += 1
        name = f"{time.time():.6f}.P{os.getpid()}T{threading.get_ident()}Q{self.count}."
        name += socket.gethostname().replace("/", "_").replace(":", "_")
        tmp = self.path / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, self.path / "new" / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def close(self) -> None:
        self.box.close()


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


def make_transport(app: App) -> Transport:
    if app.cfg.outbound.mode == "maildir":
        return MaildirTransport(str(app.outbox_dir))
    return SmtpTransport(app)
