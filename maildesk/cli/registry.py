"""`maildesk registry import FILE [--dry-run]`: customers, contacts and products."""

from __future__ import annotations

import argparse

from maildesk.cli.common import EX_OK, open_app, wrote_to
from maildesk.cli.output import safe_line
from maildesk.cli.progress import Progress
from maildesk.registry import import_registry_file


def cmd_import(args: argparse.Namespace) -> int:
    """Every change, then the counts (SPEC §6), then the database written to. An invalid
    file changes nothing and lists every invalid row at once."""
    with open_app(args) as app, Progress("importing customers") as progress:
        report = import_registry_file(
            app.db, args.file, dry_run=args.dry_run, progress=progress.update
        )
        progress.clear()
        prefix = "would be " if args.dry_run else ""
        for line in report.lines():
            print(safe_line(prefix + line if line != "no changes" else line))
        print(("dry run, " if args.dry_run else "") + report.summary())
        wrote_to(app, dry_run=args.dry_run)
    return EX_OK
