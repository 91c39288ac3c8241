"""A private Dovecot IMAP server for tests, driven from Python.

Why real Dovecot: IDLE wake-ups, MOVE, UIDPLUS and UIDVALIDITY are exactly
where IMAP consumers break, and fakes do not reproduce them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from imapclient import IMAPClient

HERE = Path(__file__).resolve().parent
START = HERE / "start-dovecot.sh"
STOP = HERE / "stop-dovecot.sh"
DEFAULT_USERS = ("support@example.test", "agents@example.test")


def dovecot_available() -> bool:
    """True when the dovecot binary (package dovecot-imapd) is installed."""
    return shutil.which("dovecot") is not None or Path("/usr/sbin/dovecot").exists()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (small race accepted in tests)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Dovecot:
    """One throwaway Dovecot instance on 127.0.0.1 with maildir users."""

    host = "127.0.0.1"

    def __init__(self, users: tuple[str, ...] = DEFAULT_USERS, password: str = "secret") -> None:
        self.users = list(users)
        self.password = password
        self.port = 0
        self.dir: Path | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        """Create the data dir (first time) and start on a fresh free port."""
        if self.dir is None:
            # /tmp, not pytest's tmp_path: as root, mail is owned by `nobody`,
            # which must traverse every parent directory.
            self.dir = Path(tempfile.mkdtemp(prefix="maildesk-imap-", dir="/tmp"))
            self.dir.chmod(0o755)
        if not self.port:
            self.port = free_port()
        self._script(START, str(self.dir), str(self.port))

    def stop(self, remove: bool = True) -> None:
        """Stop every Dovecot process of this instance; delete the data unless told not to."""
        if self.dir is None:
            return
        self._script(STOP, str(self.dir))
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.port = 0

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the mail (clients see BYE)."""
        self.stop(remove=False)
        self.start()

    def _script(self, script: Path, *args: str) -> None:
        env = dict(
            os.environ,
            MAILDESK_IMAP_USERS=" ".join(self.users),
            MAILDESK_IMAP_PASSWORD=self.password,
        )
        # Output goes to a file: the daemonised master may keep inherited fds open.
        with tempfile.TemporaryFile() as out:
            rc = subprocess.call(
                ["bash", str(script), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=30,
            )
            if rc != 0:
                out.seek(0)
                detail = out.read().decode(errors="replace")
                raise RuntimeError(f"{script.name} failed ({rc}): {detail}")

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- mail helpers ------------------------------------------------------
    def client(self, user: str | None = None, timeout: float = 10) -> IMAPClient:
        """A new IMAPClient, logged in as user (default: the first user). Caller logs out."""
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        c.login(user or self.users[0], self.password)
        return c

    @contextlib.contextmanager
    def session(self, user: str | None = None) -> Iterator[IMAPClient]:
        """client() that logs out on exit."""
        c = self.client(user)
        try:
            yield c
        finally:
            with contextlib.suppress(Exception):
                c.logout()

    def append(self, user: str | None, raw: bytes, folder: str = "INBOX") -> None:
        """Store one raw message in folder (created when missing)."""
        with self.session(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            c.append(folder, raw)

    def append_many(self, user: str | None, raws: list[bytes], folder: str = "INBOX") -> None:
        """Store many messages over one connection (much faster than append() in a loop)."""
        with self.session(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            for raw in raws:
                c.append(folder, raw)

    def messages(self, user: str | None, folder: str = "INBOX") -> list[bytes]:
        """Raw bytes of every message in folder, in UID order ([] if the folder is missing)."""
        with self.session(user) as c:
            if not c.folder_exists(folder):
                return []
            c.select_folder(folder, readonly=True)
            uids = sorted(c.search(["ALL"]))
            if not uids:
                return []
            data = c.fetch(uids, ["BODY.PEEK[]"])
            return [bytes(data[u][b"BODY[]"]) for u in uids]

    def folder_count(self, user: str | None, folder: str = "INBOX") -> int:
        """Number of messages in folder (0 if it does not exist)."""
        with self.session(user) as c:
            if not c.folder_exists(folder):
                return 0
            return int(c.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
