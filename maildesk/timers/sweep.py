"""The sweep machinery shared by T1–T4: find due tickets cheaply, act on them in batches.

Each timer is a pair (indexed WHERE clause, action). The clause is a superset of the due
tickets that an index answers (cost grows with due tickets, not with all tickets); the action
re-checks exactly, under a row lock, and returns None when the ticket is not due after all.
State and flags written by the action make every timer idempotent, and because due times are
computed from stored timestamps a daemon that was down catches up exactly once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from maildesk.errors import TemporaryFailure
from maildesk.store.models import Agent, Ticket

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.outbound.sender import FlushReport

log = logging.getLogger("maildesk.timers")

#: Tickets per transaction: big enough to amortise commits, small enough to keep locks short.
BATCH_SIZE = 200


@dataclass(frozen=True)
class Action:
    """One thing a timer did (or, in a dry run, would do) to one ticket."""

    timer: str  # T1..T4
    verb: str  # close | abandon | remind | warn | escalate
    number: int
    text: str

    def line(self) -> str:
        return f"{self.timer} {self.verb} #{self.number} ({self.text})"


@dataclass
class TimerReport:
    """What one sweep did: actions in order, per-ticket errors, and the outbox flush (T5)."""

    now: datetime
    dry_run: bool = False
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    flush: FlushReport | None = None

    def count(self, verb: str) -> int:
        return sum(1 for a in self.actions if a.verb == verb)


ActFn = Callable[[Session, "App", Ticket, datetime], "Action | None"]
WhereFn = Callable[["App", datetime], Sequence[ColumnElement[bool]]]


@dataclass(frozen=True)
class Timer:
    """A policy timer: `where` selects candidates through an index, `act` decides exactly."""

    id: str
    where: WhereFn
    act: ActFn


class Units:
    """Where a sweep reads and writes: one transaction per batch; for a dry run, one session
    whose batches are savepoints, rolled back as a whole at the end. A dry run thus sees its
    own earlier effects (a breach marks the warning sent) and reports what a real run would
    do, yet writes nothing; on SQLite it also never waits on its own write lock."""

    def __init__(self, app: App, dry_run: bool) -> None:
        self.app = app
        self.shared: Session | None = app.db.sessions() if dry_run else None

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        if self.shared is not None:
            yield self.shared
            return
        with self.app.db.transaction() as s:
            yield s

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        if self.shared is not None:
            with self.shared.begin_nested():
                yield self.shared
            return
        with self.app.db.transaction() as s:
            yield s

    def close(self) -> None:
        if self.shared is not None:
            self.shared.rollback()
            self.shared.close()


def _locked(
    s: Session, app: App, timer: Timer, numbers: Sequence[int], now: datetime
) -> list[Ticket]:
    """The batch's tickets still matching the clause, locked (PostgreSQL: other daemons skip
    them; SQLite: BEGIN IMMEDIATE already serialises writers)."""
    q = (
        select(Ticket)
        .where(Ticket.number.in_(numbers), *timer.where(app, now))
        .options(
            selectinload(Ticket.customer),
            selectinload(Ticket.requester),
            selectinload(Ticket.assignee),
        )
    )
    if app.db.dialect == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Ticket)
    return sorted(s.scalars(q), key=lambda t: t.number)


def _run_batch(units: Units, timer: Timer, numbers: Sequence[int], now: datetime) -> list[Action]:
    done: list[Action] = []
    with units.write() as s:
        for t in _locked(s, units.app, timer, numbers, now):
            action = timer.act(s, units.app, t, now)
            if action is not None:
                done.append(action)
        s.flush()
    return done


def sweep(units: Units, timer: Timer, now: datetime, report: TimerReport) -> None:
    """Run one timer over its due tickets: a transaction per batch; when a batch fails, its
    tickets are retried one by one so one bad ticket is logged and skipped, not fatal."""
    with units.read() as s:
        # Sorted here, not by ORDER BY: with table statistics SQLite would rather walk the
        # primary key in order (a full scan) than use the timer's index.
        numbers = sorted(s.scalars(select(Ticket.number).where(*timer.where(units.app, now))))
    for start in range(0, len(numbers), BATCH_SIZE):
        chunk = numbers[start : start + BATCH_SIZE]
        try:
            report.actions += _run_batch(units, timer, chunk, now)
            continue
        except TemporaryFailure:
            raise
        except Exception:
            log.warning("timer %s: batch of %d failed; retrying one by one", timer.id, len(chunk))
        for number in chunk:
            try:
                report.actions += _run_batch(units, timer, [number], now)
            except TemporaryFailure:
                raise
            except Exception as exc:
                log.exception("timer %s failed on ticket #%d", timer.id, number)
                report.errors.append(f"{timer.id} #{number}: {type(exc).__name__}: {exc}")


# -- helpers the timers share -------------------------------------------------------------


def local(app: App, at: datetime) -> str:
    """An instant as operators read it: local time of the business calendar."""
    return f"{at.astimezone(app.calendar.tz):%Y-%m-%d %H:%M}"


def active_agents(s: Session) -> list[str]:
    return list(s.scalars(select(Agent.email).where(Agent.active.is_(True)).order_by(Agent.id)))


def assignee_or_agents(s: Session, t: Ticket) -> list[str]:
    """The assignee, or every active agent while nobody owns the ticket (§4)."""
    if t.assignee is not None and t.assignee.active:
        return [t.assignee.email]
    return active_agents(s)


def unique(addresses: Sequence[str]) -> list[str]:
    """Addresses in order, each once (case-insensitive), empty ones dropped."""
    seen: set[str] = set()
    out: list[str] = []
    for a in addresses:
        key = a.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(a.strip())
    return out


def detail(**values: Any) -> dict[str, Any]:
    """Event detail with datetimes as ISO strings (the column is JSON)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
