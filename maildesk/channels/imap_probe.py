"""Closing the IDLE gap: a second connection that checks UIDNEXT once IDLE has begun.

Why (issue 10, finding 6): a server announces new mail in its replies, and Dovecot (2.3)
announces mail stored *before* an IDLE began only when that IDLE ends. Two windows lose a
message until the IDLE renewal (25 minutes):

- mail stored after the last SEARCH and before IDLE starts: never announced during IDLE;
- mail stored while SEARCH runs: announced in SEARCH's reply (`* n EXISTS`), which imapclient
  files away unseen, so the IDLE that follows has nothing left to say.

Once the server has answered IDLE with its continuation it watches the mailbox, so anything
stored from then on is announced. Anything stored earlier has a UID below the folder's
UIDNEXT as read *after* that moment. So: IDLE, then ask STATUS (UIDNEXT) on a second
connection; a UIDNEXT above the next UID the consumer expects means mail came in the gap,
and the consumer ends IDLE and searches again. STATUS is not allowed on the IDLE connection,
and on one connection any check before IDLE leaves the same gap after it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

log = logging.getLogger("maildesk.channels.imap")


class UidNextProbe:
    """A lazily opened second connection, used only for `STATUS folder (UIDNEXT)`."""

    def __init__(self, connect: Callable[[], IMAPClient]) -> None:
        self._connect = connect
        self._client: IMAPClient | None = None

    def uidnext(self, folder: str) -> int | None:
        """The folder's UIDNEXT now, or None when it cannot be read (the caller then
        falls back to a short IDLE); the connection is reopened on the next call."""
        try:
            if self._client is None:
                self._client = self._connect()
            status = self._client.folder_status(folder, [b"UIDNEXT"])
            return int(status[b"UIDNEXT"])
        except (IMAPClientError, OSError, KeyError, ValueError) as exc:
            log.debug("imap probe: UIDNEXT unavailable (%s)", exc)
            self.close()
            return None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()
