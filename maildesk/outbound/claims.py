"""Which sender holds an outbox row, and when a dead sender's rows are free again (T5).

A sender claims a batch of due rows (state `sending`, a lease in `due_at`, `claimed_by`),
delivers them one after another over one session, and records each mail in its own short
transaction as soon as the server (or the maildir) has it: killed at any moment, it has sent
again at most the one mail it had in flight. The claims are held on one connection for the
whole batch (`Claimer`), and how a dead claimer's rows come back depends on the database:

PostgreSQL: the claiming transaction takes the due rows with `FOR UPDATE SKIP LOCKED` (two
senders never claim one row) and, for each, a session-level advisory lock (OUTBOX_LOCKS, the
row's id) on the claimer's connection, which outlives that transaction. When the sender dies
(kill -9 included) its connection closes, the server ends the session and the locks go with
it: another sender, on any host, finds a `sending` row whose lock it can take and takes the
row over at once, with no lease to wait out. The locks are let go once the batch's rows are
recorded.

SQLite (one host; a write transaction held during an SMTP send would stall every writer):
`claimed_by` names the claiming process (host, pid and the pid's start time). Any sender on
the same host sees at once that a claimer process is gone (no such pid, or a pid reused by
a later process) and takes its rows back; only a claimer on another host, or a live one
that is stuck, waits out the lease (LEASE).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError

from maildesk.errors import TemporaryFailure
from maildesk.store.models import Outbox, OutboxState

if TYPE_CHECKING:
    from maildesk.app import App

LEASE = timedelta(minutes=5)
SENDING = OutboxState.SENDING.value
PENDING = OutboxState.PENDING.value
#: First key of the two-key advisory locks that hold claimed rows on PostgreSQL (the
#: second is the row's id); the two-key space never meets the one-key locks of locks.py.
OUTBOX_LOCKS = 0x6F75_7462  # "outb"
_O = Outbox.__table__.c


#: A delivery recorded: built once (a statement a mail, thousands a flush).
_SENT = (
    update(Outbox.__table__)
    .where(_O.id == bindparam("row_id"), _O.state == SENDING, _O.claimed_by == bindparam("token"))
    .values(
        state=OutboxState.SENT.value,
        sent_at=bindparam("at", type_=_O.sent_at.type),
        last_error=None,
        attempts=_O.attempts + 1,
        claimed_by=None,
    )
)


class Claimed(NamedTuple):
    """What a sender needs of a claimed row (the raw mail included: it is sent next)."""

    id: int
    to_addr: str
    raw: bytes
    created_at: datetime
    template: str


@functools.cache
def process_token() -> str:
    """This process, as written into the rows it claims: host, pid, the pid's start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or '?'}"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses: skip past it.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def claimer_alive(token: str) -> bool | None:
    """Is the process that wrote `token` still running? None: cannot tell (another host,
    no /proc), so its lease decides."""
    parts = token.rsplit(":", 2)
    if len(parts) != 3:
        return None
    host, pid_text, started = parts
    if host != socket.gethostname() or started == "?" or not pid_text.isdigit():
        return None
    now_started = _start_time(int(pid_text))
    return now_started == started


class Claimer:
    """One sender's claims, on its own connection for as long as it delivers (`with`).

    `claim` takes a batch; `sent` and `finish` record each mail as it goes; `release` gives
    back rows that were not tried. On PostgreSQL the connection holds the rows' advisory
    locks: it is closed, never pooled again, if anything goes wrong on it."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.postgres = app.db.dialect == "postgresql"
        self.token = process_token()
        self.conn: Connection = app.db.engine.connect()
        self._locked: set[int] = set()

    def __enter__(self) -> Claimer:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self.unlock()
        elif self._locked:  # never hand a connection with our locks back to the pool
            self._locked.clear()
            self.conn.invalidate()
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A short transaction on the claimer's connection (database errors as in
        `Database.transaction`: unavailable means TemporaryFailure)."""
        try:
            with self.conn.begin():
                yield self.conn
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise TemporaryFailure(f"database unavailable: {exc.orig}") from exc
            raise

    def claim(self, now: datetime, limit: int) -> list[Claimed]:
        """Take up to `limit` due rows for this sender (committed at once), after taking
        back the rows of claimers that died."""
        with self.transaction() as conn:
            if self.postgres:
                taken = self._take_over(conn, now, limit)
            else:
                _reclaim_dead(conn, now, self.token)
                taken = []
            cols = (_O.id, _O.to_addr, _O.raw, _O.created_at, _O.template)
            due = (
                select(*cols)
                .where(_O.state.in_((PENDING, SENDING)), _O.due_at <= now)
                .order_by(_O.due_at, _O.id)
                .limit(limit - len(taken))
            )
            if self.postgres:  # a sending row is taken over only through its lock
                due = due.where(_O.state == PENDING).with_for_update(skip_locked=True)
            rows = taken + [Claimed(*r) for r in conn.execute(due)] if limit > len(taken) else taken
            if self.postgres:
                rows = self._lock(conn, rows)
            stamp = {"state": SENDING, "due_at": now + LEASE, "claimed_by": self.token}
            conn.execute(update(Outbox.__table__).where(_O.id.in_([r.id for r in rows])), stamp)
            return rows

    def _lock(self, conn: Connection, rows: list[Claimed]) -> list[Claimed]:
        """PostgreSQL: the advisory lock of each row (already ours for rows taken over). A
        row whose lock is held elsewhere (a sender that just gave it back and has not let
        go yet) is left for the next flush."""
        todo = [r.id for r in rows if r.id not in self._locked]
        if todo:
            stmt = text(
                "SELECT id FROM unnest(CAST(:ids AS integer[])) id"
                " WHERE pg_try_advisory_lock(:k, id)"
            )
            self._locked.update(conn.execute(stmt, {"k": OUTBOX_LOCKS, "ids": todo}).scalars())
        return [r for r in rows if r.id in self._locked]

    def _take_over(self, conn: Connection, now: datetime, limit: int) -> list[Claimed]:
        """PostgreSQL: `sending` rows whose advisory lock is free were claimed by a sender
        that is gone. Taken only if still claimed as read once the lock is ours (a live
        sender records a row before it lets go of its lock)."""
        stmt = text(
            "WITH s AS MATERIALIZED (SELECT id, claimed_by FROM outbox WHERE state = :sending"
            " AND NOT id = ANY(CAST(:mine AS integer[])))"
            " SELECT id, claimed_by FROM s WHERE pg_try_advisory_lock(:k, id)"
        )
        params = {"sending": SENDING, "k": OUTBOX_LOCKS, "mine": sorted(self._locked)}
        seen: dict[int, str] = {r[0]: r[1] for r in conn.execute(stmt, params)}  # not ours
        if not seen:
            return []
        self._locked.update(seen)
        cols = (_O.id, _O.to_addr, _O.raw, _O.created_at, _O.template, _O.claimed_by)
        q = select(*cols).where(_O.id.in_(list(seen)), _O.state == SENDING).order_by(_O.id)
        taken = [Claimed(*r[:5]) for r in conn.execute(q) if r.claimed_by == seen[r.id]]
        taken = taken[:limit]
        self._unlock(conn, sorted(set(seen) - {r.id for r in taken}))
        return taken

    def sent(self, row_id: int, at: datetime) -> bool:
        """Record one delivery, in its own transaction; False if the row is no longer ours."""
        with self.transaction() as conn:
            params = {"row_id": row_id, "token": self.token, "at": at}
            return bool(conn.execute(_SENT, params).rowcount)

    def release(self, row_ids: Sequence[int], now: datetime) -> None:
        """Give back claimed rows that were not tried (the server is down): due again at
        once, no attempt counted, so one outage costs one connection attempt per flush, not
        one per row."""
        if not row_ids:
            return
        stmt = (
            update(Outbox.__table__)
            .where(_O.id.in_(list(row_ids)), _O.state == SENDING, _O.claimed_by == self.token)
            .values(state=PENDING, due_at=now, claimed_by=None)
        )
        with self.transaction() as conn:
            conn.execute(stmt)

    def unlock(self) -> None:
        """Let go of the advisory locks (PostgreSQL), once every row they held is recorded
        or given back: never before, or another sender would take a row over that this one
        sent and is about to record."""
        if self._locked:
            with self.transaction() as conn:
                self._unlock(conn, sorted(self._locked))

    def _unlock(self, conn: Connection, row_ids: list[int]) -> None:
        stmt = text(
            "SELECT count(pg_advisory_unlock(:k, id)) FROM unnest(CAST(:ids AS integer[])) id"
        )
        conn.execute(stmt, {"k": OUTBOX_LOCKS, "ids": row_ids})
        self._locked.difference_update(row_ids)


def _reclaim_dead(conn: Connection, now: datetime, mine: str) -> int:
    """SQLite: make the rows of dead claimer processes due now; returns how many."""
    q = (
        select(_O.claimed_by)
        .where(_O.state == SENDING, _O.due_at > now, _O.claimed_by.is_not(None))
        .distinct()
    )
    tokens = conn.execute(q).scalars().all()
    dead = [t for t in tokens if t is not None and t != mine and claimer_alive(t) is False]
    if not dead:
        return 0
    stmt = (
        update(Outbox.__table__)
        .where(_O.state == SENDING, _O.claimed_by.in_(bindparam("dead", expanding=True)))
        .values(due_at=now)
    )
    return int(conn.execute(stmt, {"dead": dead}).rowcount or 0)


def claim(app: App, now: datetime, limit: int) -> list[Claimed]:
    """Claim rows and walk away, as a sender killed right after its claim would (tests,
    fault drills): on PostgreSQL its locks go with its connection."""
    with Claimer(app) as claimer:
        return claimer.claim(now, limit)
