"""`maildesk registry import FILE [--dry-run]`: customers, contacts and products."""

from __future__ import annotations

import argparse

from maildesk.cli.common import EX_OK, open_app, wrote_to
from maildesk.registry import import_registry_file


def cmd_import(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        report = import_registry_file(app.db, args.file, dry_run=args.dry_run)
        prefix = "would be " if args.dry_run else ""
        for line in report.lines():
            print(prefix + line if line != "no changes" else line)
        wrote_to(app, dry_run=args.dry_run)
    return EX_OK
