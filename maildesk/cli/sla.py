"""`maildesk sla report [--json] [--since ISO]`."""

from __future__ import annotations

import argparse
import json
import sys

from maildesk.cli.common import open_app
from maildesk.reports import format_report, sla_report


def cmd_report(args: argparse.Namespace) -> int:
    """A naive --since is local business time."""
    with open_app(args) as app:
        now = app.now()
        since = args.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=app.calendar.tz)
        report = sla_report(app, now, since)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(format_report(report))
    return 0
