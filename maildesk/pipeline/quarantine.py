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


def quarantine(app: App, raw: bytes, source: str, error: str, now: datetime | None = None) -> int:
    """Keep a message we could not process, with the error, for `quarantine replay`."""
    with app.db.transaction() as s:
        return quarantine_row(s, raw, source, error, now or datetime.now(UTC))


def quarantine_row(s: Session, raw: bytes, source: str, error: str, now: datetime) -> int:
    """The quarantine row (and the raw bytes' blob) inside the caller's transaction."""
    sha = hashlib.sha256(raw).hexdigest()
    row = Quarantine(
        at=now, source=source[:500], error=error[:20000], raw_sha256=store_blob(s, raw, sha)
    )
    s.add(row)
    s.flush()
    return row.id
