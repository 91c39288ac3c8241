"""`maildesk tickets list|show`: read-only views of tickets (SPEC §6 JSON fields)."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from maildesk.cli.common import EX_OK, open_app
from maildesk.cli.output import colour_on, dump_csv, dump_json, is_terminal, table
from maildesk.cli.show import print_ticket
from maildesk.domain.lifecycle import State
from maildesk.listing import COLUMNS, TicketFilter, ticket_list
from maildesk.views import ticket_detail

_TABLE = ("number", "state", "type", "priority", "customer", "requester", "assignee")


def _instant(value: date | datetime | None, tz: tzinfo, *, end: bool = False) -> datetime | None:
    """A --since/--until value as an aware instant: a naive time is the support timezone's;
    a bare date is the start of that day, or for --until (`end`) the start of the next, so
    `--until 2026-12-31` includes the 31st."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value + timedelta(days=1 if end else 0), time())
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _filter(args: argparse.Namespace, tz: tzinfo) -> TicketFilter:
    return TicketFilter(
        state=State(args.state) if args.state else None,
        customer=args.customer,
        contact=args.contact,
        assignee=args.assignee,
        type=args.type,
        priority=args.priority,
        since=_instant(args.since, tz),
        until=_instant(args.until, tz, end=True),
        search=args.search,
    )


def age(created: datetime, now: datetime) -> str:
    """How long a ticket has been open, to the unit that matters: 45m, 7h, 12d."""
    minutes = int((now - created).total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // (24 * 60)}d"


def _print_table(rows: list[dict[str, Any]], tz: tzinfo, now: datetime) -> None:
    on = colour_on()
    cells, styles = [], []
    for r in rows:
        due = r["sla_due_at"]
        late = due is not None and due <= now and r["state"] == State.OPEN
        shown = [r[c] for c in _TABLE]
        shown[_TABLE.index("assignee")] = r["assignee"] or "-"
        cells.append([*shown, age(r["created_at"], now), _local(due, tz), r["subject"]])
        styles.append([*([None] * 8), "red" if late and on else None, None])
    headers = [*_TABLE, "age", "sla due", "subject"]
    limits = {len(headers) - 1: _subject_width(cells, headers)} if is_terminal(sys.stdout) else {}
    table(headers, cells, right=(0, 7), max_width=limits, styles=styles)
    print(f"({len(rows)} ticket{'s' if len(rows) != 1 else ''})")


def _subject_width(cells: list[list[Any]], headers: list[str]) -> int:
    """On a terminal the subject gets what the other columns leave of its width."""
    used = sum(
        max([len(h)] + [len(str(r[i])) for r in cells]) + 2 for i, h in enumerate(headers[:-1])
    )
    return max(20, shutil.get_terminal_size().columns - used)


def _local(value: datetime | None, tz: tzinfo) -> str:
    return f"{value.astimezone(tz):%Y-%m-%d %H:%M}" if value else "-"


def _iso(value: Any, tz: tzinfo) -> Any:
    return value.astimezone(tz).isoformat() if isinstance(value, datetime) else value


def cmd_list(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        tz = app.calendar.tz
        rows = ticket_list(app, _filter(args, tz))
        now = app.now()
    fmt = "json" if args.json else args.format
    if fmt == "table":
        _print_table(rows, tz, now)
        return EX_OK
    data = [{k: _iso(v, tz) for k, v in r.items()} for r in rows]
    if fmt == "json":
        dump_json(data)
    else:
        dump_csv(COLUMNS, [[r[c] for c in COLUMNS] for r in data])
    return EX_OK


def cmd_show(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        detail = ticket_detail(app, args.number)
        if detail is None:
            print(f"maildesk: no ticket #{args.number}", file=sys.stderr)
            return 1
        if args.json:
            dump_json(detail)
        else:
            print_ticket(app, detail)
    return EX_OK
