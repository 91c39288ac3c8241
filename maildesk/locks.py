"""Cross-process locks: one IMAP consumer per mailbox, one schema migration at a time.

PostgreSQL: session-level advisory locks on a dedicated connection. When the holder dies its
session ends and the server releases the lock, so a standby daemon takes over on its next try.
SQLite: maildesk is single-instance there, but a file lock (flock) next to the database keeps a
second daemon started by mistake on standby instead of consuming the same mailbox.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from maildesk.channels.imap_session import ConnectionLost
from maildesk.errors import TemporaryFailure
from maildesk.store.db import make_engine

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.locks")


class LockStopped(ConnectionLost):
    """Raised from a waiting lock when the daemon stops: the consumer's pass ends at once."""


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (Python's hash() is salted per run)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


class MailboxLock:
    """Entered by the IMAP consumer around every pass (see ImapConsumer's `lock`).

    Once taken, the lock is kept between passes (including IDLE) for the consumer's lifetime;
    entering only checks it is still ours. While another instance holds it, entering waits
    (a standby), retrying every `retry_seconds`, and gives up with LockStopped on stop."""

    def __init__(self, name: str, stop: threading.Event, retry_seconds: float = 2.0) -> None:
        self.name = name
        self.stop = stop
        self.retry_seconds = retry_seconds
        self.held = False
        self.standby = False

    def __enter__(self) -> MailboxLock:
        while not self.stop.is_set():
            if self._acquire():
                if self.standby or not self.held:
                    log.info("lock %s: taken, this instance consumes the mailbox", self.name)
                self.held, self.standby = True, False
                return self
            if self.held or not self.standby:
                log.info(
                    "lock %s: held by another instance; standing by (retry every %.0f s)",
                    self.name, self.retry_seconds,
                )  # fmt: skip
            self.held, self.standby = False, True
            self.stop.wait(self.retry_seconds)
        raise LockStopped("stopping while waiting for the mailbox lock")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # kept across passes: the next instance must not slip in during IDLE

    def _acquire(self) -> bool:
        """True when this instance holds the lock now (taking it if free)."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the lock up (daemon stopping) so a standby takes over at once."""
        raise NotImplementedError


class PgAdvisoryLock(MailboxLock):
    """pg_try_advisory_lock on a dedicated autocommit connection held for our lifetime."""

    def __init__(
        self, url: str, name: str, stop: threading.Event, retry_seconds: float = 2.0
    ) -> None:
        super().__init__(name, stop, retry_seconds)
        self.key = lock_key(name)
        # NullPool: closing the connection really ends the session (and any lock with it).
        self.engine = make_engine(url, poolclass=NullPool)
        self._conn: Connection | None = None

    def _acquire(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except SQLAlchemyError as exc:
                log.warning("lock %s: connection lost (%s); lock released", self.name, exc)
                self._close()
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            log.debug("lock %s: database unavailable: %s", self.name, exc)
            return False
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        except SQLAlchemyError as exc:
            log.debug("lock %s: %s", self.name, exc)
            got = False
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._close()
        self.held = False
        self.engine.dispose()


class FileLock(MailboxLock):
    """flock(2) on a file next to the SQLite database; the kernel drops it when we die."""

    def __init__(
        self, path: Path, name: str, stop: threading.Event, retry_seconds: float = 2.0
    ) -> None:
        super().__init__(name, stop, retry_seconds)
        self.path = path
        self._fd: int | None = None

    def _acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock
        self.held = False


class NoLock(MailboxLock):
    """In-memory SQLite: nothing else can share the database, so nothing to exclude."""

    def _acquire(self) -> bool:
        return True

    def release(self) -> None:
        self.held = False


def mailbox_lock(
    app: App, name: str, stop: threading.Event, retry_seconds: float = 2.0
) -> MailboxLock:
    """The right lock for the configured database, named after the mailbox it guards."""
    url = app.db.url
    if app.db.dialect == "postgresql":
        return PgAdvisoryLock(url, name, stop, retry_seconds)
    database = make_url(url).database
    if app.db.dialect == "sqlite" and database and database != ":memory:":
        digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
        path = Path(database).with_name(f"{Path(database).name}.{digest}.lock")
        return FileLock(path, name, stop, retry_seconds)
    return NoLock(name, stop, retry_seconds)


@contextlib.contextmanager
def exclusive(app: App, name: str) -> Iterator[None]:
    """Block until no other instance runs the same section (PostgreSQL; elsewhere a no-op).

    Used around schema upgrade and agent sync at start, which two daemons starting together
    on an empty database would otherwise race on."""
    if app.db.dialect != "postgresql":
        yield
        return
    engine = make_engine(app.db.url, poolclass=NullPool)
    key: Any = lock_key(name)
    try:
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        except OperationalError as exc:
            raise TemporaryFailure(f"database unavailable: {exc.orig}") from exc
        try:
            yield
        finally:
            with contextlib.suppress(SQLAlchemyError):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.close()
    finally:
        engine.dispose()
