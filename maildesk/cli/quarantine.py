"""`maildesk quarantine list|show|export|replay|discard`: messages that could not be
processed, kept whole with their error, replayed after a fix.

An unknown entry is an error (exit 1) naming it. Nothing here deletes mail: `discard` only
takes an entry out of the replay queue.
"""

from __future__ import annotations

import argparse
import sys

from maildesk.cli.common import EX_OK, open_app, wrote_to
from maildesk.cli.output import dump_json, emit_bytes, safe, safe_line, table
from maildesk.cli.progress import Progress
from maildesk.pipeline.accept import replay, waiting
from maildesk.pipeline.quarantine import discard
from maildesk.views import quarantine_entry, quarantine_list, quarantined_raw

EX_NOT_FOUND = 1


def _unknown(entry: int) -> int:
    print(f"maildesk: no quarantine entry {entry} (see: maildesk quarantine list)", file=sys.stderr)
    return EX_NOT_FOUND


def _state(r: dict) -> str:
    if r["state"] == "waiting" and r["replay_outcome"]:
        return "failed again"
    if r["state"] == "replayed":
        return f"replayed: {r['replay_outcome']}"
    return r["state"]


def cmd_list(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        rows = quarantine_list(app)
        tz = app.calendar.tz
    if args.json:
        dump_json(rows)
        return EX_OK
    cells = [
        [r["id"], r["at"][:16].replace("T", " "), r["source"], _state(r), r["error_line"]]
        for r in rows
    ]
    table(["id", "received", "source", "state", "error"], cells, right=(0,))
    waiting_now = sum(r["state"] == "waiting" for r in rows)
    print(f"({len(rows)} in quarantine, {waiting_now} waiting for a replay; times in {tz})")
    return EX_OK


def cmd_show(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        e = quarantine_entry(app, args.id)
    if e is None:
        return _unknown(args.id)
    if args.json:
        dump_json(e)
        return EX_OK
    print(f"quarantine entry {e['id']}: {_state(e)}")
    fields = [("received", e["at"]), ("source", e["source"]), ("size", f"{e['size']} bytes")]
    fields += [(k.lower(), v) for k, v in e["headers"].items() if v is not None]
    if e["replayed_at"]:
        fields.append(("last replay", f"{e['replayed_at']}: {e['replay_outcome']}"))
    if e["discarded_at"]:
        fields.append(("discarded", e["discarded_at"]))
    for name, value in fields:
        print(f"  {name:<12} {safe_line(value)}")
    print("\nerror:")
    for line in e["error"].rstrip().splitlines():
        print(f"  {safe(line)}")
    return EX_OK


def cmd_export(args: argparse.Namespace) -> int:
    """The bytes as they arrived: to a file or a pipe (made safe on a terminal)."""
    with open_app(args) as app:
        raw = quarantined_raw(app, args.id)
    if raw is None:
        return _unknown(args.id)
    emit_bytes(raw, args.output)
    return EX_OK


def cmd_replay(args: argparse.Namespace) -> int:
    """One entry, or every waiting one with progress on a terminal; 1 if any failed again."""
    with open_app(args) as app:
        entries = [args.id] if args.id else waiting(app)
        failed = 0
        with Progress("replaying") as progress:
            for done, entry in enumerate(entries, 1):
                label = replay(app, entry)
                if label is None:
                    return _unknown(entry)
                failed += label.startswith("quarantined")
                print(f"{entry}: {safe_line(label)}")
                progress.update(done, len(entries))
        if not entries:
            print("nothing waiting for a replay")
        elif failed:
            print(f"{failed} of {len(entries)} failed again: see `maildesk quarantine show ID`")
        wrote_to(app)
    return 1 if failed else EX_OK


def cmd_discard(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        if not discard(app, args.id, app.now()):
            return _unknown(args.id)
        print(f"entry {args.id} discarded: it will not be replayed (the message is kept)")
        wrote_to(app)
    return EX_OK
