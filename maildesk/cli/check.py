"""`maildesk check [--credentials-dir DIR]`: config, secrets, templates, database, IMAP/SMTP.

Exit 78 (EX_CONFIG) when the config has errors, 1 when another check failed, 0 otherwise
(warnings do not fail it)."""

from __future__ import annotations

import argparse

from maildesk.checks import run_checks
from maildesk.cli.common import EX_CONFIG, EX_OK


def cmd_check(args: argparse.Namespace) -> int:
    report = run_checks(args.config, credentials_dir=args.credentials_dir)
    if report.config_errors:
        return EX_CONFIG
    return 1 if report.failures else EX_OK
