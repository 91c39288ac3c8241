"""An IMAP session as maildesk opens one: the `[inbound.imap]` settings, the folder an
outcome is filed in, the login (shared by the consumer, its UIDNEXT probe and `maildesk
check`), and how to read the server's untagged answers and message sizes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from ssl import SSLContext  # the `ssl` field below hides the module's name
from typing import Any

from imapclient import IMAPClient

from maildesk.config import Config, read_secret
from maildesk.pipeline.outcome import Kind, Outcome


class Folder(StrEnum):
    """Where a handled message is filed (`[inbound.imap] *_folder` names each)."""

    PROCESSED = "processed"
    REJECTED = "rejected"
    QUARANTINE = "quarantine"


_FOLDERS = {Kind.REJECTED: Folder.REJECTED, Kind.QUARANTINED: Folder.QUARANTINE}


def folder_of(outcome: Outcome) -> Folder:
    """The edge's translation of an outcome: rejected and quarantined mail apart from the
    rest (ticketed, followed up, ignored), so a person can look through them."""
    return _FOLDERS.get(outcome.kind, Folder.PROCESSED)


@dataclass
class ImapSettings:
    """Connection and folder settings; mirrors `[inbound.imap]` (SPEC §6)."""

    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    rejected_folder: str = "Rejected"
    quarantine_folder: str = "Quarantine"
    idle: bool = True
    poll_seconds: float = 60
    batch_size: int = 100
    batch_bytes: int = 16 * 1024 * 1024  # bodies fetched (and written) together, at most
    idle_renew_seconds: float = 25 * 60  # RFC 2177: servers may drop IDLE after 29 min
    timeout: float = 30
    ssl_context: SSLContext | None = None
    retry_seconds: float = 5  # wait before offering a failed message again
    backoff_initial: float = 1.0
    backoff_max: float = 60.0

    def folder_for(self, role: Folder) -> str:
        """The mailbox folder configured for one of the roles."""
        return {
            Folder.PROCESSED: self.processed_folder,
            Folder.REJECTED: self.rejected_folder,
            Folder.QUARANTINE: self.quarantine_folder,
        }[role]


class ConnectionLost(Exception):
    """The server said BYE or the socket closed: reconnect."""


def settings_from_config(cfg: Config, **overrides: Any) -> ImapSettings:
    """`[inbound.imap]` as the consumer's settings; the password comes from its file
    (ConfigError when it cannot be read). `overrides`: any field, e.g. a shorter timeout."""
    c = cfg.inbound.imap
    password = (
        read_secret(cfg, c.password_file, "inbound.imap.password_file") if c.password_file else ""
    )
    settings = ImapSettings(
        host=c.host,
        port=c.port,
        ssl=c.ssl,
        starttls=c.starttls,
        username=c.username,
        password=password,
        folder=c.folder,
        processed_folder=c.processed_folder,
        rejected_folder=c.rejected_folder,
        quarantine_folder=c.quarantine_folder,
        idle=c.idle,
        poll_seconds=c.poll_seconds,
        batch_size=c.batch_size,
    )
    return dataclasses.replace(settings, **overrides)


def login(s: ImapSettings) -> IMAPClient:
    """Open, secure (implicit TLS, or STARTTLS) and log in a connection."""
    client = IMAPClient(
        s.host, port=s.port, ssl=s.ssl, ssl_context=s.ssl_context, timeout=s.timeout
    )
    try:
        if s.starttls and not s.ssl:
            client.starttls(s.ssl_context)
        client.login(s.username, s.password)
    except BaseException:
        close(client)
        raise
    return client


def close(client: IMAPClient) -> None:
    """Log out politely, or just drop the socket if the server is gone."""
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()


def by_size(uids: list[int], sizes: dict[int, Any], budget: int) -> list[list[int]]:
    """`uids` in order, cut into parts whose RFC822.SIZE adds up to at most `budget`."""
    parts: list[list[int]] = [[]]
    total = 0
    for uid in uids:
        size = int((sizes.get(uid) or {}).get(b"RFC822.SIZE", 0))
        if parts[-1] and total + size > budget:
            parts.append([])
            total = 0
        parts[-1].append(uid)
        total += size
    return [p for p in parts if p]


def has_news(responses: list[Any]) -> bool:
    """True for EXISTS/RECENT; raises ConnectionLost on BYE."""
    news = False
    for r in responses:
        if isinstance(r, tuple) and len(r) >= 2:
            if r[0] == b"BYE":
                raise ConnectionLost(r[1].decode(errors="replace") if r[1] else "BYE")
            if r[1] in (b"EXISTS", b"RECENT"):
                news = True
    return news
