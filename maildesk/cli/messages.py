"""`maildesk messages raw MESSAGE_ID [-o FILE]`: the stored original of one mail."""

from __future__ import annotations

import argparse
import sys

from maildesk.cli.common import EX_OK, open_app
from maildesk.cli.output import emit_bytes, safe_line
from maildesk.stored import raw_message


def cmd_raw(args: argparse.Namespace) -> int:
    """Received mail byte for byte as it arrived; sent mail as it was handed to SMTP."""
    with open_app(args) as app:
        found = raw_message(app, args.message_id)
    if found is None:
        print(
            f"maildesk: no stored mail with Message-ID {safe_line(args.message_id)} "
            "(tickets show N --json lists each message's id)",
            file=sys.stderr,
        )
        return 1
    if found.copies > 1:
        print(
            f"maildesk: {found.copies} different mails carry this Message-ID; "
            "this is the first one stored",
            file=sys.stderr,
        )
    emit_bytes(found.data, args.output)
    return EX_OK
