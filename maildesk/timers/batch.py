"""One batch of due tickets, read and written with a few statements whatever its size.

A timer's `decide` sees each ticket as a plain row (ticket, requester, customer, assignee
from one joined SELECT) and records what it does here: column updates, events, mails.
`write` then issues a few statements per table. Per-ticket ORM loads, flushes and guard
queries cost ~2 ms a ticket, ten times SPEC §9's budget (10 000 due tickets in < 2 s).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.orm import Session

from maildesk.domain.lifecycle import State, resolution_values, transition_values
from maildesk.outbound.bulk import BulkMail, insert_many
from maildesk.outbound.notices import ticket_context_of
from maildesk.outbound.recipients import copies
from maildesk.outbound.transcript import message_lines, shown, transcript_head
from maildesk.store.models import Agent, Contact, Customer, Event, Message, Resolution, Ticket
from maildesk.store.participants import mailed_many

if TYPE_CHECKING:
    from maildesk.app import App
    from maildesk.timers.sweep import Timer

_T = Ticket.__table__.c
V = TypeVar("V")
#: What every timer reads of a ticket: its notices' context (`ticket_context_of`), and the
#: columns a transition looks at. Timers add their own (`Timer.columns`): each datetime
#: read costs a conversion per row.
_COLUMNS = (
    _T.number,
    _T.subject,
    _T.state,
    _T.type,
    _T.priority,
    _T.unclassified,
    _T.product,
    _T.product_version,
    _T.created_at,
    _T.reopened_at,  # where the SLA clock a resolution ends started (mostly NULL: cheap)
    _T.resolved_at,
    _T.resolution_reason,
    _T.follows_up,
    _T.sla_due_at,
    _T.assignee_id,
    Customer.name.label("customer_name"),
    Contact.name.label("requester_name"),
    Contact.email.label("requester_email"),
    Contact.phone.label("requester_phone"),
    Agent.name.label("assignee_name"),
    Agent.email.label("assignee_email"),
    Agent.active.label("assignee_active"),
)


class Batch:
    """What a timer does to one batch of tickets, in one unit of work."""

    def __init__(self, s: Session, app: App, now: datetime) -> None:
        self.session = s
        self.conn: Connection = s.connection()
        self.app = app
        self.now = now
        self.events: list[dict[str, Any]] = []
        self.resolutions: list[dict[str, Any]] = []
        self.mail = BulkMail(app, self.conn, now, self.events)
        self._updates: dict[int, tuple[str, dict[str, Any]]] = {}
        self._contexts: dict[int, dict[str, Any]] = {}
        self._threads: dict[int, list[str]] = defaultdict(list)
        self._transcripts: dict[int, list[str]] = defaultdict(list)
        self._memo: dict[str, Any] = {}
        #: Each ticket's participants mailed in Cc (`to_requester` timers), by number.
        self._mailed: dict[int, list[tuple[str, str]]] = {}

    # -- reading ------------------------------------------------------------------------

    def load(self, timer: Timer, numbers: Sequence[int]) -> Sequence[Row]:
        """The batch's tickets still matching the timer's clause, in number order, locked
        (PostgreSQL: other daemons skip them; SQLite: BEGIN IMMEDIATE serialises writers),
        with their threads (and, for `timer.transcripts`, the public messages)."""
        q = (
            select(*_COLUMNS, *(_T[c] for c in timer.columns))
            .join(Customer, Customer.id == _T.customer_id)
            .join(Contact, Contact.id == _T.requester_id)
            .outerjoin(Agent, Agent.id == _T.assignee_id)
            .where(_T.number.in_(numbers), *timer.where(self.app, self.now))
        )
        if self.app.db.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True, of=Ticket.__table__)
        rows = sorted(self.conn.execute(q).all(), key=lambda r: r.number)
        if rows:
            self._load_messages([r.number for r in rows], timer.transcripts)
            if timer.to_requester:  # the guards of every customer mailed, in one go
                found = mailed_many(self.conn, [r.number for r in rows])
                self._mailed.update(found)
                copied = [a for people in found.values() for _, a in people]
                self.mail.check([r.requester_email for r in rows] + copied)
        return rows

    def _load_messages(self, numbers: list[int], full: bool) -> None:
        m = Message.__table__.c
        cols = [m.ticket_number, m.message_id, m.kind]
        if full:
            cols += [m.at, m.from_addr, m.subject, m.body]
        # Public messages only, as `notices.thread_ids`: the thread the customer saw.
        q = select(*cols).where(m.ticket_number.in_(numbers), m.public.is_(True))
        q = q.order_by(m.ticket_number, m.id)
        if not full:
            q = q.where(m.message_id.is_not(None))
        tz = self.app.calendar.tz
        for r in self.conn.execute(q).all():
            if r.message_id:
                self._threads[r.ticket_number].append(r.message_id)
            if full and shown(r.kind, public=True):  # the query reads public rows only
                lines = message_lines(tz, r.at, r.from_addr, r.subject, r.body)
                self._transcripts[r.ticket_number] += lines

    def transcript(self, row: Any) -> str:
        """The ticket's transcript as `outbound.transcript.transcript_text` writes it (public
        messages, oldest first); needs a timer with `transcripts=True`."""
        head = transcript_head(self.app.cfg.support.subject_prefix, row.number, row.subject)
        return "\n".join(head + self._transcripts[row.number])

    def memo(self, key: str, load: Callable[[], V]) -> V:
        """What every ticket of the batch needs the same (agents, committee): read once."""
        if key not in self._memo:
            self._memo[key] = load()
        return cast(V, self._memo[key])

    def active_agents(self) -> list[str]:
        q = select(Agent.email).where(Agent.active.is_(True)).order_by(Agent.id)
        return self.memo("agents", lambda: list(self.conn.execute(q).scalars()))

    def assignee_or_agents(self, row: Any) -> list[str]:
        """The assignee, or every active agent while nobody owns the ticket (§4)."""
        if row.assignee_id is not None and row.assignee_active:
            return [row.assignee_email]
        return self.active_agents()

    # -- recording ----------------------------------------------------------------------

    def update(self, row: Any, **values: Any) -> None:
        """Set ticket columns; written only if the ticket is still in the state it was read
        in (it is locked, so this is a guard against acting twice, not a race)."""
        state, pending = self._updates.get(row.number, (row.state, {}))
        pending.update(values)
        self._updates[row.number] = (state, pending)
        self._contexts.pop(row.number, None)

    def transition(self, row: Any, target: State, reason: str, actor: str = "system") -> None:
        """Change the ticket's state and record the `state` event, as `transition` does."""
        values, detail = transition_values(row, target, self.now, reason)
        ended = resolution_values(row, target, self.now)
        self.update(row, **values)
        self.event(row, "state", actor, **detail)
        if ended is not None:  # the `resolutions` ledger, as `pipeline.tickets.transition`
            self.resolutions.append(ended)

    def event(self, row: Any, kind: str, actor: str = "system", **detail: Any) -> None:
        self.events.append(
            {
                "ticket_number": row.number,
                "contact_id": None,
                "at": self.now,
                "kind": kind,
                "actor": actor,
                "detail": detail,
            }
        )

    def send(self, row: Any, template: str, to: str, **kwargs: Any) -> str | None:
        """Queue one automatic mail on the ticket (loop guards checked, thread extended);
        the ticket's public mail copies its participants, as `queue_mail` does."""
        ctx = self._contexts.get(row.number)
        if ctx is None:
            values = row._asdict()
            values.update(self._updates.get(row.number, ("", {}))[1])
            ctx = self._contexts[row.number] = ticket_context_of(self.app, values)
        requester = (row.requester_name or "", row.requester_email)
        return self.mail.queue(
            template=template,
            to=to,
            number=row.number,
            ticket_ctx=ctx,
            thread=self._threads[row.number],
            cc=copies(template, to, requester, self._mailed.get(row.number, ())),
            **kwargs,
        )

    # -- writing ------------------------------------------------------------------------

    def write(self) -> None:
        """Everything recorded, in a few statements: one UPDATE per set of new values, then
        events, outbox rows and messages, each one executemany."""
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for number, (state, values) in self._updates.items():
            groups[(state, *sorted(values.items()))].append(number)
        for (state, *pairs), numbers in groups.items():
            # Tickets given the same values (the common case: the same transition at the
            # same instant) share one statement: no per-row parameters to process.
            stmt = (
                update(Ticket.__table__)
                .where(_T.number.in_(numbers), _T.state == state)
                .values(dict(pairs))
            )
            done = self.conn.execute(stmt).rowcount
            if done != len(numbers):
                raise RuntimeError(f"{len(numbers) - done} tickets changed under the sweep")
        insert_many(self.conn, Event.__table__, self.events)
        insert_many(self.conn, Resolution.__table__, self.resolutions)
        self.mail.write()
        self._updates, self.events[:], self.resolutions = {}, [], []
