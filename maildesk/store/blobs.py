"""Content-addressed blob storage: raw mail and attachments, each kept once by sha256."""

from __future__ import annotations

from sqlalchemy.orm import Session

from maildesk.store.models import Blob


def store_blob(s: Session, data: bytes, sha256: str) -> str:
    """Keep `data` under its sha256 (one INSERT, no lookup: the same bytes are kept once)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(Blob).values(sha256=sha256, size=len(data), data=data)
    s.execute(stmt.on_conflict_do_nothing(index_elements=["sha256"]))
    return sha256
