"""`maildesk tickets list|show`: read-only views of tickets (SPEC §6 JSON fields)."""

from __future__ import annotations

import argparse
import json
import sys

from maildesk.cli.common import EX_OK, open_app
from maildesk.views import ticket_detail, ticket_rows

_DETAIL_KEYS = (
    "state",
    "type",
    "priority",
    "customer",
    "requester",
    "product",
    "assignee",
    "created_at",
    "sla_due_at",
    "resolved_at",
    "closed_at",
    "resolution_reason",
    "follows_up",
)


def cmd_list(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        rows = ticket_rows(app, args.state)
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EX_OK
    cols = ("number", "state", "type", "priority", "customer", "requester", "sla_due_at", "subject")
    table = [[str(r[c] if r[c] is not None else "-") for c in cols] for r in rows]
    for r in table:
        r[6] = r[6][:16].replace("T", " ")
    widths = [max([len(c)] + [len(r[i]) for r in table]) for i, c in enumerate(cols)]
    widths[-1] = min(widths[-1], 60)
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for r in table:
        print("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    print(f"({len(rows)} ticket{'s' if len(rows) != 1 else ''})")
    return EX_OK


def cmd_show(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        detail = ticket_detail(app, args.number)
        prefix = app.cfg.support.subject_prefix
    if detail is None:
        print(f"maildesk: no ticket #{args.number}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(detail, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EX_OK
    print(f"[{prefix} #{detail['number']}] {detail['subject']}")
    for key in _DETAIL_KEYS:
        if detail[key] not in (None, ""):
            print(f"  {key:18} {detail[key]}")
    for m in detail["messages"]:
        print(f"\n--- {m['date']}  {m['direction']}/{m['kind']}  {m['from']} → {m['to']}")
        print(f"    {m['subject']}")
        for line in m["body"].splitlines():
            print(f"    {line}")
        for a in m["attachments"]:
            print(f"    [attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    print("\nevents:")
    for e in detail["events"]:
        print(f"  {e['at']}  {e['kind']:20} {e['actor']}  {json.dumps(e['detail'])}")
    return EX_OK
