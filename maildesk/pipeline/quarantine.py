"""Quarantine rows: a message we could not process, kept with its error for a replay.

Below `accept` (which quarantines unparseable mail inside its unit of work, and bugs in a
transaction of their own); the replay itself is `accept.quarantine_replay`: accept again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.store.blobs import store_blob
from maildesk.store.models import Quarantine

if TYPE_CHECKING:
    from maildesk.app import App


def quarantine(
    app: App,
    raw: bytes,
    source: str,
    error: str,
    now: datetime | None = None,
    *,
    entry: int | None = None,
) -> int:
    """Keep a message we could not process, with the error, for `quarantine replay`."""
    with app.db.transaction() as s:
        return quarantine_row(s, raw, source, error, now or datetime.now(UTC), entry=entry)


def quarantine_row(
    s: Session, raw: bytes, source: str, error: str, now: datetime, *, entry: int | None = None
) -> int:
    """The quarantine row (and the raw bytes' blob) inside the caller's transaction.

    `entry`: the message is a replay of that entry and failed again: the entry takes the
    new error instead of a second entry being added for the same message."""
    if entry is not None:
        row = s.get(Quarantine, entry)
        if row is not None:
            row.error = error[:20000]
            return row.id
    sha = hashlib.sha256(raw).hexdigest()
    row = Quarantine(
        at=now, source=source[:500], error=error[:20000], raw_sha256=store_blob(s, raw, sha)
    )
    s.add(row)
    s.flush()
    return row.id


def discard(app: App, entry: int, now: datetime) -> bool:
    """Mark an entry as needing no replay (its bytes stay); False if there is no such entry."""
    with app.db.transaction() as s:
        row = s.get(Quarantine, entry)
        if row is None:
            return False
        row.discarded_at = now
        return True
