"""Queue many automatic mails at once: what `queue_mail` does, in a few statements.

The timers act on thousands of tickets per sweep; one guard query, one render and one
INSERT per mail was most of their cost. Here the loop guards of every recipient come from
one grouped query, counts are kept in memory as mails are queued (so the caps hold within
the batch as they do across batches), and rows go in with one executemany per table.
Rendering and composing are `notices.build_mail`, the same as for one mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, and_, case, func, insert, select
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from maildesk.outbound.guards import (
    REJECTION_NOTICES,
    Guard,
    guard_reason,
    guard_windows,
    suppressed_event,
)
from maildesk.outbound.notices import Letter, build_mail, envelopes, render_mail, support_context
from maildesk.outbound.recipients import refused_recipient
from maildesk.outbound.templates import Rendered
from maildesk.store.models import Contact, Message, Outbox

if TYPE_CHECKING:
    from maildesk.app import App


def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One executemany INSERT of `rows` (all with the same keys, every column to be set).

    SQLAlchemy's own executemany converts each value of each row (~6 µs a row here: the
    UTC datetime type, JSON); a batch's rows mostly repeat the same instant, so here each
    column's converter runs once per distinct value. The SQL and the converters are still
    SQLAlchemy's for the dialect, so the rows stored are the same."""
    if not rows:
        return
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    defaults = {}
    for n in set(names) - set(keys):  # columns left to their scalar default
        default = table.c[n].default
        if not isinstance(default, ScalarElementColumnDefault):
            raise ValueError(f"insert_many into {table.name}: no value for {n}")
        defaults[n] = default.arg
    if defaults:
        rows = [{**defaults, **r} for r in rows]
    # Values in statement order; only columns with a converter are touched again.
    get = itemgetter(*names) if len(names) > 1 else (lambda r: (r[names[0]],))
    values = [list(get(r)) for r in rows]
    convert = [
        (i, p if isinstance(values[0][i], dict | list) else _memo(p))  # JSON: never repeats
        for i, n in enumerate(names)
        if (p := table.c[n].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    for i, c in convert:
        for v in values:
            v[i] = c(v[i])
    if compiled.positional:
        params: list[Any] = [tuple(v) for v in values]
    else:
        params = [dict(zip(names, v, strict=True)) for v in values]
    conn.exec_driver_sql(compiled.string, params)


def _memo(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process` remembering its result per hashable value (one call per distinct instant)."""
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = out = process(value)
            return out
        except TypeError:  # unhashable after all
            return process(value)

    return convert


class BulkMail:
    """Mails for one unit of work, written by `write`. Guards are looked up once per
    recipient (`check`); `queue` then decides in memory. Stopped mails become
    `notice_suppressed` events appended, in order, to the caller's `events`."""

    def __init__(
        self, app: App, conn: Connection, now: datetime, events: list[dict[str, Any]]
    ) -> None:
        self.app = app
        self.conn = conn
        self.now = now
        self.events = events
        self.support = support_context(app)
        self.outbox: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self._guards: dict[str, Guard] = {}
        self._last: tuple[tuple[Any, ...], Rendered] | None = None

    def check(self, addresses: Iterable[str]) -> None:
        """Load the guards of recipients not seen yet: one grouped query over the outbox
        (index ix_outbox_rcpt) and one over contacts, for the whole set. Call it before
        queueing, with every recipient known then; any other is looked up on first use."""
        staff = self.app.staff_addresses
        todo = sorted({a.lower() for a in addresses} - staff - self._guards.keys())
        if not todo:
            return
        for addr in todo:
            self._guards[addr] = Guard()
        day_ago, hour_ago = guard_windows(self.now)
        for start in range(0, len(todo), 500):  # bounded IN lists
            part = todo[start : start + 500]
            counts = select(
                Outbox.to_addr,
                func.count(case((Outbox.automatic.is_(True), 1))),
                func.count(
                    case(
                        (
                            and_(
                                Outbox.template.in_(REJECTION_NOTICES),
                                Outbox.created_at > hour_ago,
                            ),
                            1,
                        )
                    )
                ),
            ).where(Outbox.to_addr.in_(part), Outbox.created_at > day_ago)
            for addr, day, hour in self.conn.execute(counts.group_by(Outbox.to_addr)):
                g = self._guards[addr]
                g.day, g.hour = day, hour
            suppressed = select(Contact.email, Contact.suppressed_until).where(
                Contact.email.in_(part), Contact.suppressed_until.is_not(None)
            )
            for addr, until in self.conn.execute(suppressed):
                self._guards[addr].suppressed_until = until

    def queue(
        self,
        *,
        template: str,
        to: str,
        number: int | None,
        ticket_ctx: dict[str, Any] | None,
        thread: list[str],
        context: dict[str, Any] | None = None,
        auto_submitted: str = "auto-generated",
        kind: str = "notice",
        attachments: Sequence[tuple[str, str, bytes]] = (),
        recipient_name: str = "",
        record: bool = True,
        cc: Sequence[tuple[str, str]] = (),
    ) -> str | None:
        """`queue_mail` for an automatic mail on a ticket whose thread (Message-IDs, oldest
        first) is `thread`: appended to when the mail is recorded, as the database would
        be. `cc`: (name, address) copied on it (the ticket's participants), each guarded
        on its own like `to`. Returns the Message-ID, or None when the guards stopped the
        mail for every recipient."""
        to = to.lower()
        passed = [a for a in [to, *(a.lower() for _, a in cc)] if self._passes(template, a, number)]
        if not passed:
            return None
        letter = Letter(
            template=template,
            to=to,
            number=number,
            in_reply_to=thread[-1] if thread else None,
            references=list(thread),
            auto_submitted=auto_submitted,
            kind=kind,
            attachments=attachments,
            record=record,
            to_name=recipient_name,
            cc=[(name, a.lower()) for name, a in cc if a.lower() in passed],
        )
        rendered = self._render(template, ticket_ctx, context, recipient_name)
        out, msg = build_mail(
            self.app, letter, rendered, now=self.now, team_name=self.support["team_name"]
        )
        self.outbox += envelopes(out, passed)
        if msg is not None:
            self.messages.append(msg)
            if msg["public"]:  # an internal note never joins the customer's thread
                thread.append(out["message_id"])
        return str(out["message_id"])

    def _passes(self, template: str, to: str, number: int | None) -> bool:
        """The loop guards for one recipient, from memory (counted when it passes); a
        stopped one becomes a `notice_suppressed` event."""
        why = refused_recipient(self.app, to, template)
        if why is None and to not in self.app.staff_addresses:
            if to not in self._guards:
                self.check([to])
            guard = self._guards[to]
            why = guard_reason(self.app, template, self.now, guard)
            if why is None:
                guard.count(template)
        if why:
            self.events.append(suppressed_event(number, to, template, why, self.now))
        return why is None

    def _render(
        self,
        template: str,
        ticket_ctx: dict[str, Any] | None,
        context: dict[str, Any] | None,
        recipient_name: str,
    ) -> Rendered:
        """Render, or reuse the last rendering when called again with the very same context
        objects (one notice to several people: an escalation to assignee and supervisors)."""
        key = (template, ticket_ctx, context, recipient_name)
        last = self._last
        if last is not None and all(a is b for a, b in zip(key, last[0], strict=True)):
            return last[1]
        rendered = render_mail(
            self.app, template, self.support, ticket_ctx, context, recipient_name
        )
        self._last = (key, rendered)
        return rendered

    def write(self) -> None:
        """INSERT what was queued: one executemany per table."""
        insert_many(self.conn, Outbox.__table__, self.outbox)
        insert_many(self.conn, Message.__table__, self.messages)
        self.outbox, self.messages = [], []
