"""`maildesk timers run [--now ISO8601] [--dry-run]`: T1–T5 once, as the daemon runs them.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from maildesk.cli.common import open_app, wrote_to
from maildesk.cli.progress import Progress
from maildesk.timers import run_timers, summary


def cmd_run(args: argparse.Namespace) -> int:
    """A naive --now is local business time. A long sweep shows its progress on a terminal
    (the daemon's sweeps log instead)."""
    with open_app(args) as app:
        now: datetime = args.now or app.now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=app.calendar.tz)
        with Progress("sweeping") as progress:
            report = run_timers(
                app,
                now,
                dry_run=args.dry_run,
                progress=lambda timer, done, total: progress.update(done, total, timer),
            )
        for action in report.actions:
            print(action.line())
        for error in report.errors:
            print(f"error: {error}", file=sys.stderr)
        print(summary(app, report))
        wrote_to(app, dry_run=args.dry_run)
        return 1 if report.errors else 0
