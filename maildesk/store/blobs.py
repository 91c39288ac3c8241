"""Content-addressed blob storage: raw mail and attachments, each kept once by sha256."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maildesk.store.models import Blob

STREAM_MIN = 1 << 20  # SQLite blobs from this size on are written in chunks
CHUNK = 1 << 20


def _insert(dialect: str, streamed: bool) -> Any:
    """INSERT .. ON CONFLICT DO NOTHING, built once per dialect and kind: building a
    statement costs as much as running it."""
    data = func.zeroblob(bindparam("size")) if streamed else bindparam("data")
    values = {"sha256": bindparam("sha256"), "size": bindparam("size"), "data": data}
    if dialect == "postgresql":
        pg = postgresql.insert(Blob.__table__).values(values)
        return pg.on_conflict_do_nothing(index_elements=["sha256"])
    lite = sqlite.insert(Blob.__table__).values(values)
    return lite.on_conflict_do_nothing(index_elements=["sha256"])


_INSERTS = {(d, big): _insert(d, big) for d in ("sqlite", "postgresql") for big in (False, True)}


def store_blob(s: Session, data: bytes | memoryview, sha256: str) -> str:
    """Keep `data` under its sha256 (one INSERT, no lookup: the same bytes are kept once).

    On SQLite a big blob is inserted as zeroblob(n) and then written through the blob
    handle in 1 MiB chunks: a bound parameter is copied by SQLite and copied again into
    the record, two full-size copies of a 25 MiB mail for the length of the INSERT.
    Runs on the session's connection, without an ORM flush: no pending row is needed
    by a blob (rows refer to blobs, not the other way round).
    """
    size = memoryview(data).nbytes
    conn = s.connection()
    dialect = conn.dialect.name
    streamed = dialect == "sqlite" and size >= STREAM_MIN
    params: dict[str, Any] = {"sha256": sha256, "size": size}
    if not streamed:
        params["data"] = data
    result = conn.execute(_INSERTS[dialect, streamed], params)
    if streamed and result.rowcount == 1:
        _write_blob(s, result.lastrowid, data)
    return sha256


def _write_blob(s: Session, rowid: int, data: bytes | memoryview) -> None:
    """Fill the zeroblob just inserted at `rowid`, in the session's transaction."""
    conn = s.connection().connection.driver_connection
    assert conn is not None  # a live connection: the session's transaction holds it
    view = memoryview(data).cast("B")
    with conn.blobopen(Blob.__tablename__, "data", rowid) as blob:
        for start in range(0, len(view), CHUNK):
            blob.write(view[start : start + CHUNK])
