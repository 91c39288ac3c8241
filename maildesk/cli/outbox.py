"""`maildesk outbox flush | list [--failed] [--all] | retry ID|--all-failed | cancel ID`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, tzinfo

from maildesk.cli.common import EX_OK, open_app, wrote_to
from maildesk.cli.output import colour_on, dump_json, safe_line, table
from maildesk.outbound.admin import (
    UNDELIVERED,
    Change,
    OutboxRow,
    cancel,
    failed_ids,
    outbox_rows,
    retry,
)
from maildesk.outbound.sender import flush
from maildesk.store.models import OutboxState

EX_REFUSED = 1

#: Why a retry or a cancel did nothing, said to the operator.
REFUSALS = {
    Change.UNKNOWN: "no outbox mail {id} (see: maildesk outbox list --all)",
    Change.SENT: "outbox mail {id} was already delivered",
    Change.BUSY: "outbox mail {id} is being sent right now; look again in a minute",
    Change.WAITING: "outbox mail {id} is already waiting to be sent",
    Change.CANCELLED: "outbox mail {id} is already cancelled",
}


def cmd_flush(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        report = flush(app)
        print(f"sent {report.sent}, retry later {report.retried}, failed {report.failed}")
        for err in report.errors[:20]:
            print(f"  {safe_line(err)}", file=sys.stderr)
        wrote_to(app)
    return EX_OK


def _local(value: datetime | None, tz: tzinfo) -> str:
    return f"{value.astimezone(tz):%Y-%m-%d %H:%M}" if value else "-"


def _cells(r: OutboxRow, tz: tzinfo) -> list[object]:
    ticket = f"#{r.ticket_number}" if r.ticket_number else "-"
    when = _local(r.sent_at if r.state is OutboxState.SENT else r.due_at, tz)
    error = ((r.last_error or "").strip().splitlines() or [""])[-1]
    queued = _local(r.created_at, tz)
    return [r.id, queued, ticket, r.to_addr, r.template, r.state.value, r.attempts, when, error]


def _print(rows: list[OutboxRow], tz: tzinfo) -> None:
    on = colour_on()
    cells = [_cells(r, tz) for r in rows]
    red = [("red" if on and r.state is OutboxState.FAILED else None) for r in rows]
    styles = [[None] * 5 + [style] + [None] * 3 for style in red]
    headers = ["id", "queued", "ticket", "to", "template", "state", "tries", "due/sent", "error"]
    table(headers, cells, right=(0, 6), max_width={8: 80}, styles=styles)
    print(f"({len(rows)} mail{'s' if len(rows) != 1 else ''})")


def _json(r: OutboxRow) -> dict[str, object]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.__dict__.items()}


def cmd_list(args: argparse.Namespace) -> int:
    """Mail not delivered yet (default), only the failed, or everything."""
    states = None if args.all else (OutboxState.FAILED,) if args.failed else UNDELIVERED
    with open_app(args) as app:
        rows = outbox_rows(app, states)
        tz = app.calendar.tz
    if args.json:
        dump_json([_json(r) for r in rows])
    else:
        _print(rows, tz)
    return EX_OK


def cmd_retry(args: argparse.Namespace) -> int:
    """A fresh set of attempts, due now: the daemon (or `outbox flush`) sends it."""
    with open_app(args) as app:
        ids = failed_ids(app) if args.all_failed else [args.id]
        changes = [retry(app, outbox_id, app.now()) for outbox_id in ids]
        for outbox_id, change in zip(ids, changes, strict=True):
            if change is Change.DONE:
                print(f"outbox mail {outbox_id}: will be sent again")
            else:
                print(f"maildesk: {REFUSALS[change].format(id=outbox_id)}", file=sys.stderr)
        if args.all_failed and not ids:
            print("no failed mail in the outbox")
        if Change.DONE in changes:
            wrote_to(app)
    return EX_OK if all(c is Change.DONE for c in changes) else EX_REFUSED


def cmd_cancel(args: argparse.Namespace) -> int:
    """Never send it (the row stays, marked cancelled; `retry` can still bring it back)."""
    with open_app(args) as app:
        change = cancel(app, args.id, app.now())
        if change is not Change.DONE:
            print(f"maildesk: {REFUSALS[change].format(id=args.id)}", file=sys.stderr)
            return EX_REFUSED
        print(f"outbox mail {args.id}: cancelled, it will not be sent")
        wrote_to(app)
    return EX_OK
