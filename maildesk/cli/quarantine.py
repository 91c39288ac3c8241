"""`maildesk quarantine list|replay [ID]`: messages that failed, replayed after a fix."""

from __future__ import annotations

import argparse

from maildesk.cli.common import EX_OK, open_app, wrote_to
from maildesk.pipeline.accept import quarantine_replay
from maildesk.views import quarantine_list


def cmd_quarantine(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        if args.action == "list":
            rows = quarantine_list(app)
            for r in rows:
                state = (
                    f"replayed {r['replayed_at']} → {r['replay_outcome']}"
                    if r["replayed_at"]
                    else "waiting"
                )
                print(f"{r['id']:>5}  {r['at']}  {r['source']}  {state}\n       {r['error_line']}")
            print(f"({len(rows)} in quarantine)")
            return EX_OK
        results = quarantine_replay(app, args.id)
        for qid, outcome in results:
            print(f"{qid}: {outcome}")
        wrote_to(app)
    return EX_OK
