"""`maildesk check`: validate config, templates, database, IMAP/SMTP reachability."""

from __future__ import annotations

import argparse

from maildesk.checks import run_checks
from maildesk.cli.common import EX_OK


def cmd_check(args: argparse.Namespace) -> int:
    problems = run_checks(args.config)
    return EX_OK if not problems else 1
