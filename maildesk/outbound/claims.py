"""Which sender holds an outbox row, and when a dead sender's rows are free again (T5).

PostgreSQL: a sender takes one due row with `SELECT ... FOR UPDATE SKIP LOCKED` in a
transaction that lasts while that mail is sent and its result recorded. The row lock belongs
to the sender's database session: when the process dies (kill -9 included) its connection
closes, the server ends the session, and the row is free at once for any other sender, on
any host. No state is written before the send, so nothing waits for a lease.

SQLite (one host; a write transaction held during an SMTP send would stall every writer):
rows are claimed in a short transaction (state `sending`, a lease in `due_at`) and marked
with the claiming process (`claimed_by`: host, pid and the pid's start time). Any sender on
the same host sees at once that a claimer process is gone (no such pid, or a pid reused by
a later process) and takes its rows back; only a claimer on another host, or a live one
that is stuck, waits out the lease (LEASE).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import functools
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from maildesk.store.models import Outbox, OutboxState

if TYPE_CHECKING:
    from maildesk.app import App

LEASE = timedelta(minutes=5)
SENDING = OutboxState.SENDING.value


def due_rows(now: datetime, limit: int):
    """Due rows, oldest first: pending, or claimed with an expired lease."""
    return (
        select(Outbox)
        .where(Outbox.state.in_(("pending", SENDING)), Outbox.due_at <= now)
        .order_by(Outbox.due_at, Outbox.id)
        .limit(limit)
    )


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


def reclaim_dead(s: Session, now: datetime) -> int:
    """Make the rows of dead claimers due now; returns how many."""
    tokens = s.scalars(
        select(Outbox.claimed_by)
        .where(Outbox.state == SENDING, Outbox.due_at > now, Outbox.claimed_by.is_not(None))
        .distinct()
    ).all()
    mine = process_token()
    dead = [t for t in tokens if t is not None and t != mine and claimer_alive(t) is False]
    if not dead:
        return 0
    result = s.execute(
        update(Outbox)
        .where(Outbox.state == SENDING, Outbox.claimed_by.in_(dead))
        .values(due_at=now)
    )
    return int(cast("CursorResult[Any]", result).rowcount or 0)  # an UPDATE's result


def claim(app: App, now: datetime, limit: int) -> list[Outbox]:
    """Take up to `limit` due rows for this process (a lease, committed at once), after
    taking back the rows of claimers that died."""
    with app.db.transaction() as s:
        reclaim_dead(s, now)
        rows = list(s.scalars(due_rows(now, limit)))
        for row in rows:
            row.state = SENDING
            row.due_at = now + LEASE
            row.claimed_by = process_token()
        return rows


def release(app: App, row_ids: list[int], now: datetime) -> None:
    """Give back claimed rows that were not tried (the server is down): due again at once,
    no attempt counted, so one outage costs one connection attempt per flush, not one per row."""
    if not row_ids:
        return
    with app.db.transaction() as s:
        for row_id in row_ids:
            row = s.get(Outbox, row_id)
            if row is not None and row.state == SENDING:
                row.state, row.due_at, row.claimed_by = "pending", now, None
