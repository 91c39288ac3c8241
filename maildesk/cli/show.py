"""`maildesk tickets show N` as text: the ticket as a person reads it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from maildesk.cli.output import safe, safe_line

if TYPE_CHECKING:
    from maildesk.app import App

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


def print_ticket(app: App, detail: dict[str, Any]) -> None:
    prefix = app.cfg.support.subject_prefix
    print(safe_line(f"[{prefix} #{detail['number']}] {detail['subject']}"))
    for key in _DETAIL_KEYS:
        if detail[key] not in (None, ""):
            print(f"  {key:18} {safe_line(detail[key])}")
    for m in detail["messages"]:
        head = f"{m['date']}  {m['direction']}/{m['kind']}  {m['from']} → {m['to']}"
        print(f"\n--- {safe_line(head)}")
        print(f"    {safe_line(m['subject'])}")
        for line in m["body"].splitlines():
            print(f"    {safe(line)}")
        for a in m["attachments"]:
            att = f"{a['filename']} ({a['content_type']}, {a['size']} bytes)"
            print(f"    [attachment] {safe_line(att)}")
    print("\nevents:")
    for e in detail["events"]:
        print(safe_line(f"  {e['at']}  {e['kind']:20} {e['actor']}  {json.dumps(e['detail'])}"))
