"""`maildesk ingest [FILE|-]`: one message through the pipeline, exit codes for an MTA pipe."""

from __future__ import annotations

import argparse
import sys

from maildesk.cli.common import EX_DATAERR, EX_OK, EX_USAGE, open_app, wrote_to
from maildesk.pipeline.accept import accept_or_quarantine
from maildesk.pipeline.outcome import Kind


def cmd_ingest(args: argparse.Namespace) -> int:
    """0 recorded (whatever the outcome), 65 unparseable (quarantined), 75 try again later."""
    if args.file in (None, "-"):
        raw, source = sys.stdin.buffer.read(), "ingest:stdin"
    else:
        try:
            with open(args.file, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            print(f"maildesk ingest: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return EX_USAGE
        source = f"ingest:{args.file}"
    with open_app(args) as app:
        outcome = accept_or_quarantine(app, raw, source)
        number = f" #{outcome.ticket_number}" if outcome.ticket_number else ""
        print(f"{outcome.kind.value}{number}: {outcome.reason}")
        wrote_to(app)
    return EX_DATAERR if outcome.kind is Kind.QUARANTINED else EX_OK
