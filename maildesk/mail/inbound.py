"""The parsed form of one inbound mail: what every later step reads instead of raw bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property


@dataclass(frozen=True)
class Attachment:
    """One attachment. `filename` is metadata only (never a path on disk)."""

    filename: str
    content_type: str
    data: bytes

    @cached_property
    def sha256(self) -> str:
        """Hashed once: callers ask for it per row they write (a 25 MiB file takes ~15 ms)."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Inbound:
    """A decoded inbound message. Built by `maildesk.mail.parse.parse`; never raises on access."""

    raw: bytes
    message_id: str | None  # without angle brackets, as written by the sender
    from_addr: str  # lower-cased bare address ("" when missing)
    from_name: str
    to: tuple[str, ...]  # lower-cased bare addresses
    cc: tuple[str, ...]
    subject: str  # decoded, CR/LF/TAB folded to single spaces
    date: datetime | None  # the sender's Date: header (informative only)
    in_reply_to: tuple[str, ...]  # message ids without angle brackets
    references: tuple[str, ...]
    headers: dict[str, tuple[str, ...]]  # lower-cased name -> decoded values, in order
    return_path: str | None  # None when absent; "" for the null sender <>
    content_type: str  # top-level, lower-cased, e.g. "multipart/report"
    text: str  # full body text (text/plain preferred, else text from HTML)
    new_content: str  # text with quoted history and signature removed
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = field(default=())  # Delivered-To / X-Original-To / envelope
    header_names: tuple[str, ...] = ()  # lower-cased, in order: where Received: fields sit
    # False when maildesk itself received the mail from a hop it does not trust to have
    # authenticated it (its listener's unlisted peers, `ingest`): then no
    # Authentication-Results in it are believed (SPEC §10). Set by the pipeline from the source.
    hop_trusted: bool = True

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def header(self, name: str) -> str | None:
        """First value of a header (case-insensitive), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.delivered_to
