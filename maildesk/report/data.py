"""The figures of `maildesk report` and the supervisors' digest, read from the database.

Read-only. Times are counted the way the SLA counts them: business hours on each customer's
calendar (P9: a 7x24 customer's hours are wall-clock). SLA compliance is the `sla report`'s:
every SLA clock that ended in the period (the `resolutions` ledger) with a due time is on
time when it ended by it; a reopening starts a new clock and never rewrites an ended one
(SPEC §10: a ticket resolved before its due time counts as met, whatever happens later).
Resolutions and resolution times are counted per clock, from the creation or the reopening.

First response: the ticket's `first_response_at` when the schema has that column, else the
first public agent answer among its messages (the same fact, found the long way).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from maildesk.domain.lifecycle import State
from maildesk.domain.sla import PRIORITIES
from maildesk.store.models import Agent, Customer, Event, Message, Resolution, Ticket

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from maildesk.app import App

BACKLOG_STATES = (State.OPEN, State.RESOLVED)  # closed tickets are history, not backlog


@dataclass(frozen=True)
class Row:
    """One ticket as the report sees it."""

    number: int
    customer: str
    agent: str  # the assignee's name, "" when unassigned
    priority: str
    state: str
    created_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    sla_due_at: datetime | None
    first_response_at: datetime | None
    policy: str


@dataclass(frozen=True)
class Clock:
    """One SLA clock that ended in the period: a resolution (the `resolutions` ledger)."""

    number: int
    started_at: datetime
    resolved_at: datetime
    sla_due_at: datetime | None
    priority: str  # when it ended

    @property
    def on_time(self) -> bool:
        return self.sla_due_at is not None and self.resolved_at <= self.sla_due_at


@dataclass
class Week:
    start: date
    opened: int = 0
    resolved: int = 0
    closed: int = 0
    backlog: dict[str, int] = field(default_factory=dict)  # at the week's end (or `until`)
    #: priority -> (on time, with an SLA) among tickets resolved in the week
    sla: dict[str, tuple[int, int]] = field(default_factory=dict)

    def compliance(self, priority: str) -> float | None:
        on_time, total = self.sla.get(priority, (0, 0))
        return 100.0 * on_time / total if total else None


@dataclass
class Summary:
    """What one table row says about a group of tickets (an agent, a customer)."""

    name: str
    opened: int = 0
    resolved: int = 0
    open_now: int = 0
    on_time: int = 0
    with_sla: int = 0
    first_response: list[float] = field(default_factory=list)  # business hours
    resolution: list[float] = field(default_factory=list)

    @property
    def compliance(self) -> float | None:
        return 100.0 * self.on_time / self.with_sla if self.with_sla else None

    @property
    def median_first_response(self) -> float | None:
        return statistics.median(self.first_response) if self.first_response else None

    @property
    def median_resolution(self) -> float | None:
        return statistics.median(self.resolution) if self.resolution else None


@dataclass
class ReportData:
    since: datetime
    until: datetime
    timezone: str
    weeks: list[Week]
    totals: Summary
    first_response_hours: list[float]  # tickets opened in the period that got an answer
    resolution_hours: list[float]  # tickets resolved in the period
    agents: list[Summary]
    customers: list[Summary]
    first_response_source: str  # "first_response_at" | "messages"


def _rows(app: App, since: datetime, until: datetime) -> tuple[list[Row], str]:
    """Tickets alive at some point of [since, until]: created by its end, not closed before
    its start."""
    column = Ticket.__table__.c.get("first_response_at")
    first_agent = (
        select(func.min(Message.at))
        .where(
            Message.ticket_number == Ticket.number,
            Message.direction == "out",
            Message.kind == "agent",
            Message.public.is_(True),
        )
        .correlate(Ticket)
        .scalar_subquery()
    )
    first = column if column is not None else first_agent
    q = (
        select(
            Ticket.number,
            Customer.name,
            Agent.name,
            Agent.email,
            Ticket.priority,
            Ticket.state,
            Ticket.created_at,
            Ticket.resolved_at,
            Ticket.closed_at,
            Ticket.sla_due_at,
            first,
            Customer.policy,
        )
        .join(Customer, Ticket.customer_id == Customer.id)
        .outerjoin(Agent, Ticket.assignee_id == Agent.id)
        .where(
            Ticket.created_at <= until,
            or_(Ticket.closed_at.is_(None), Ticket.closed_at >= since),
        )
        .order_by(Ticket.number)
    )
    with app.db.transaction() as s:
        rows = [
            Row(n, cust, aname or aemail or "", prio, state, c, r, cl, due, fr, pol)
            for n, cust, aname, aemail, prio, state, c, r, cl, due, fr, pol in s.execute(q)
        ]
    return rows, "first_response_at" if column is not None else "messages"


def _clocks(app: App, since: datetime, until: datetime) -> list[Clock]:
    r = Resolution
    q = (
        select(r.ticket_number, r.clock_started_at, r.resolved_at, r.sla_due_at, r.priority)
        .where(r.resolved_at >= since, r.resolved_at <= until)
        .order_by(r.resolved_at, r.id)
    )
    with app.db.transaction() as s:
        return [Clock(*row) for row in s.execute(q)]


def _state_changes(app: App, since: datetime, until: datetime) -> list[tuple[int, datetime, str]]:
    """(ticket, at, new state) of every state change up to `until` of tickets alive in the
    period, in order: replayed to know each ticket's state at each week's end."""
    q = (
        select(Event.ticket_number, Event.at, Event.detail)
        .join(Ticket, Ticket.number == Event.ticket_number)
        .where(
            Event.kind == "state",
            Event.at <= until,
            Ticket.created_at <= until,
            or_(Ticket.closed_at.is_(None), Ticket.closed_at >= since),
        )
        .order_by(Event.at, Event.id)
    )
    with app.db.transaction() as s:
        return [(n, at, (d or {}).get("to", "")) for n, at, d in s.execute(q)]


def week_starts(since: datetime, until: datetime, tz: ZoneInfo) -> list[date]:
    """Mondays (support timezone) of every week that overlaps [since, until]."""
    first = since.astimezone(tz).date()
    first -= timedelta(days=first.weekday())
    last = until.astimezone(tz).date()
    out = []
    while first <= last:
        out.append(first)
        first += timedelta(days=7)
    return out


def _week_index(at: datetime, starts: list[date], tz: ZoneInfo) -> int | None:
    day = at.astimezone(tz).date()
    i = (day - starts[0]).days // 7
    return i if 0 <= i < len(starts) else None


def gather(app: App, since: datetime, until: datetime) -> ReportData:
    """Every figure of the report for [since, until]."""
    tz = app.calendar.tz
    rows, source = _rows(app, since, until)
    starts = week_starts(since, until, tz)
    weeks = [Week(start) for start in starts]

    def week(at: datetime | None) -> Week | None:
        if at is None or not since <= at <= until:
            return None
        i = _week_index(at, starts, tz)
        return None if i is None else weeks[i]

    for r in rows:
        if (w := week(r.created_at)) is not None:
            w.opened += 1
        if (w := week(r.closed_at)) is not None:
            w.closed += 1
    clocks = _clocks(app, since, until)
    for c in clocks:
        if (w := week(c.resolved_at)) is not None:
            w.resolved += 1
            if c.sla_due_at is not None:
                on, total = w.sla.get(c.priority, (0, 0))
                w.sla[c.priority] = (on + c.on_time, total + 1)
    _backlog(app, rows, weeks, since, until)
    return _summaries(app, rows, clocks, weeks, (since, until), source)


def _backlog(
    app: App, rows: list[Row], weeks: list[Week], since: datetime, until: datetime
) -> None:
    """Open and resolved tickets at each week's end, replaying the state changes."""
    tz = app.calendar.tz
    changes = _state_changes(app, since, until)
    created = sorted((r.created_at, r.number) for r in rows)
    state: dict[int, str] = {}
    ci = ei = 0
    for w in weeks:
        end = datetime.combine(w.start + timedelta(days=7), time(0), tz)
        end = min(end, until)
        while ci < len(created) and created[ci][0] <= end:
            state[created[ci][1]] = State.OPEN
            ci += 1
        while ei < len(changes) and changes[ei][1] <= end:
            number, _, to = changes[ei]
            if to:
                state[number] = to
            ei += 1
        counts = Counter(state.values())
        w.backlog = {s: counts.get(s, 0) for s in BACKLOG_STATES}


def _summaries(
    app: App,
    rows: list[Row],
    clocks: list[Clock],
    weeks: list[Week],
    period: tuple[datetime, datetime],
    source: str,
) -> ReportData:
    since, until = period
    total = Summary("all")
    agents: dict[str, Summary] = defaultdict(lambda: Summary(""))
    customers: dict[str, Summary] = defaultdict(lambda: Summary(""))
    first_response: list[float] = []
    by_number = {r.number: r for r in rows}

    def groups(r: Row) -> list[Summary]:
        return [total, agents[r.agent or "(unassigned)"], customers[r.customer]]

    for r in rows:
        opened = since <= r.created_at <= until
        fr = (
            app.calendar_for(r.policy).business_hours_between(r.created_at, r.first_response_at)
            if opened and r.first_response_at is not None
            else None
        )
        if fr is not None:
            first_response.append(fr)
        for g in groups(r):
            g.opened += opened
            g.open_now += r.state == State.OPEN
            if fr is not None:
                g.first_response.append(fr)
    resolution = _resolutions(app, clocks, by_number, groups)
    for name, g in agents.items():
        g.name = name
    for name, g in customers.items():
        g.name = name
    return ReportData(
        since=since,
        until=until,
        timezone=app.calendar.timezone,
        weeks=weeks,
        totals=total,
        first_response_hours=first_response,
        resolution_hours=resolution,
        agents=sorted(agents.values(), key=lambda g: (-g.opened - g.resolved, g.name)),
        customers=sorted(customers.values(), key=lambda g: (-g.opened - g.resolved, g.name)),
        first_response_source=source,
    )


def _resolutions(
    app: App,
    clocks: list[Clock],
    by_number: dict[int, Row],
    groups: Callable[[Row], list[Summary]],
) -> list[float]:
    """Each ended clock counts once for its ticket's groups: resolved, its time (from the
    clock's start), and against its due time when it had one."""
    hours: list[float] = []
    for c in clocks:
        r = by_number[c.number]  # ended in the period, so its ticket was alive in it
        spent = app.calendar_for(r.policy).business_hours_between(c.started_at, c.resolved_at)
        hours.append(spent)
        for g in groups(r):
            g.resolved += 1
            g.resolution.append(spent)
            if c.sla_due_at is not None:
                g.with_sla += 1
                g.on_time += c.on_time
    return hours


def priorities_seen(data: ReportData) -> list[str]:
    """Priorities with SLA figures in the period, in the policy's order."""
    seen = {p for w in data.weeks for p in w.sla}
    return [p for p in PRIORITIES if p in seen]


def as_dict(data: ReportData) -> dict[str, Any]:
    """JSON-ready figures (for tests and anyone scripting on top)."""
    return {
        "since": data.since.isoformat(),
        "until": data.until.isoformat(),
        "weeks": [
            {
                "start": w.start.isoformat(),
                "opened": w.opened,
                "resolved": w.resolved,
                "closed": w.closed,
                "backlog": w.backlog,
                "sla": {p: list(v) for p, v in w.sla.items()},
            }
            for w in data.weeks
        ],
        "first_response_hours": data.first_response_hours,
        "resolution_hours": data.resolution_hours,
    }
