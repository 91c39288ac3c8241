"""`maildesk outbox flush`: send what is due, once."""

from __future__ import annotations

import argparse
import sys

from maildesk.cli.common import EX_OK, open_app, wrote_to
from maildesk.outbound.sender import flush


def cmd_flush(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        report = flush(app)
        print(f"sent {report.sent}, retry later {report.retried}, failed {report.failed}")
        for err in report.errors[:20]:
            print(f"  {err}", file=sys.stderr)
        wrote_to(app)
    return EX_OK
