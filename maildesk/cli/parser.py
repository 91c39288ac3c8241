"""Every command and option of `maildesk`, declared with argparse alone.

A command's handler is named as "module:function" inside this package and imported only
when the command runs: `--help` and `--version` must not pay for SQLAlchemy, the daemon and
the templates (about 1 s here). The handlers' modules import downward as usual.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import shtab

from maildesk import __version__
from maildesk.domain.lifecycle import State
from maildesk.domain.sla import PRIORITIES, TYPES


def _command(
    parent: Any, name: str, handler: str, help: str, **kwargs: Any
) -> argparse.ArgumentParser:
    sp: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help, **kwargs)
    sp.set_defaults(handler=handler)
    return sp


def _group(sub: Any, name: str, help: str) -> Any:
    gp = sub.add_parser(name, help=help, description=help)
    return gp.add_subparsers(dest="action", required=True, metavar="ACTION")


def _when(text: str) -> date | datetime:
    """--since/--until: a date (2026-12-01) or an ISO 8601 time; zone-less means the
    support timezone."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2026-12-01) or a time (2026-12-01T09:30)"
        ) from None


def _ticket_filters(sp: argparse.ArgumentParser) -> None:
    f = sp.add_argument_group("filters (all given must match)")
    f.add_argument("--state", choices=[s.value for s in State], help="tickets in this state")
    f.add_argument("--customer", metavar="ID", help="the customer's id in the registry")
    f.add_argument(
        "--contact", metavar="ADDR", help="requested by, or with mail from, this address"
    )
    f.add_argument(
        "--assignee",
        metavar="AGENT",
        help="assigned to this agent (address or name); none: not assigned yet",
    )
    f.add_argument("--type", choices=TYPES, help="ticket type")
    f.add_argument("--priority", choices=PRIORITIES, help="ticket priority")
    f.add_argument("--since", type=_when, metavar="DATE", help="created on or after DATE")
    f.add_argument("--until", type=_when, metavar="DATE", help="created up to DATE (inclusive)")
    f.add_argument(
        "--search",
        metavar="TEXT",
        help="every word in a subject or body (case and accents ignored; word* for a prefix)",
    )
    o = sp.add_argument_group("output")
    o.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="aligned table for people (default), JSON or CSV for programs",
    )
    o.add_argument("--json", action="store_true", help="the same as --format json")


def _file(action: argparse.Action, kind: Mapping[str, object] = shtab.FILE) -> None:
    """Shell completion offers file (or, with shtab.DIRECTORY, folder) names here."""
    action.complete = kind  # type: ignore[attr-defined]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maildesk", description="Email-first support ticketing.")
    p.add_argument(
        "--version", action="version", version=f"maildesk {__version__}", help="print the version"
    )
    _file(
        p.add_argument(
            "--config", help="config file (default: $MAILDESK_CONFIG, then ./maildesk.toml)"
        )
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug lines to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _command(sub, "run", "run:cmd_run", "run the daemon in the foreground")
    sp = _command(sub, "ingest", "ingest:cmd_ingest", "one RFC 5322 message through the pipeline")
    _file(sp.add_argument("file", nargs="?", help="message file, or - for stdin (default)"))
    _timers(_group(sub, "timers", "the policy's timers: close, abandon, remind, escalate"))
    _outbox(_group(sub, "outbox", "outgoing mail: what waits, what failed"))
    _attachments(_group(sub, "attachments", "files sent with a ticket's mail"))
    messages = _group(sub, "messages", "stored mail")
    sp = _command(messages, "raw", "messages:cmd_raw", "the original bytes of one mail")
    sp.add_argument("message_id", metavar="MESSAGE_ID", help="its Message-ID (<> optional)")
    _file(sp.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)"))
    _database(_group(sub, "db", "the database: create, migrate, back up"))
    reg = _group(sub, "registry", "customers, contacts, products")
    sp = _command(reg, "import", "registry:cmd_import", "import a registry file (all-or-nothing)")
    _file(sp.add_argument("file", help="the registry (TOML): the whole registry, every time"))
    sp.add_argument("--dry-run", action="store_true", help="show changes without writing")
    _tickets(_group(sub, "tickets", "tickets: find them, read one"))
    _reports(sub)
    _check(sub)
    _quarantine(_group(sub, "quarantine", "messages that could not be processed, kept whole"))
    sp = _command(sub, "completion", "completion:cmd_completion", "shell completion script")
    sp.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    return p


def _timers(t: Any) -> None:
    sp = _command(t, "run", "timers:cmd_run", "run every timer once, then send what is due")
    sp.add_argument("--now", type=datetime.fromisoformat, help="as of this ISO 8601 instant")
    sp.add_argument("--dry-run", action="store_true", help="show what would happen")


def _database(db: Any) -> None:
    _command(db, "upgrade", "db:cmd_upgrade", "create or migrate the schema")
    sp = _command(
        db, "backup", "db:cmd_backup", "copy the live SQLite database (online backup API)"
    )
    _file(sp.add_argument("file", help="the copy to write (must not exist)"))


def _tickets(tickets: Any) -> None:
    sp = _command(tickets, "list", "tickets:cmd_list", "list tickets, filtered")
    _ticket_filters(sp)
    sp = _command(tickets, "show", "tickets:cmd_show", "one ticket: its mail and its history")
    sp.add_argument("number", type=int, help="the ticket's number ([PREFIX #N] in subjects)")
    sp.add_argument("--json", action="store_true", help="JSON for programs (ISO 8601 dates)")


def _reports(sub: Any) -> None:
    sla = _group(sub, "sla", "service levels")
    sp = _command(sla, "report", "sla:cmd_report", "open tickets against their SLA, and compliance")
    sp.add_argument("--json", action="store_true", help="JSON for programs")
    sp.add_argument("--since", type=datetime.fromisoformat, help="period start (ISO 8601)")
    sp = _command(
        sub,
        "report",
        "report:cmd_report",
        "write the support report (charts and tables) as one self-contained HTML page",
    )
    sp.add_argument("--since", type=day, metavar="DATE", help="first day (default: 8 weeks ago)")
    sp.add_argument("--until", type=day, metavar="DATE", help="last day (default: today)")
    _file(sp.add_argument("--html", required=True, metavar="FILE", help="the page to write"))


def _check(sub: Any) -> None:
    sp = _command(
        sub,
        "check",
        "check:cmd_check",
        "validate config, secrets, templates, database, IMAP/SMTP reachability",
    )
    credentials = sp.add_argument(
        "--credentials-dir",
        metavar="DIR",
        help="read the files the config names under /run/credentials/UNIT/ from DIR instead "
        "(e.g. /etc/maildesk, where the unit's LoadCredential= takes them from)",
    )
    _file(credentials, shtab.DIRECTORY)


def _outbox(o: Any) -> None:
    _command(o, "flush", "outbox:cmd_flush", "send what is due, once")
    sp = _command(o, "list", "outbox:cmd_list", "mail not delivered yet: waiting or failed")
    which = sp.add_mutually_exclusive_group()
    which.add_argument("--failed", action="store_true", help="only mail that was given up")
    which.add_argument("--all", action="store_true", help="delivered and cancelled mail too")
    sp.add_argument("--json", action="store_true", help="JSON for programs")
    sp = _command(o, "retry", "outbox:cmd_retry", "send failed mail again (fresh attempts)")
    one = sp.add_mutually_exclusive_group(required=True)
    one.add_argument("id", type=int, nargs="?", help="the mail's id (outbox list)")
    one.add_argument("--all-failed", action="store_true", help="every failed mail")
    sp = _command(o, "cancel", "outbox:cmd_cancel", "never send this mail (it stays listed)")
    sp.add_argument("id", type=int, help="the mail's id (outbox list)")


def _attachments(a: Any) -> None:
    sp = _command(a, "list", "attachments:cmd_list", "a ticket's attachments")
    sp.add_argument("ticket", type=int, metavar="TICKET", help="the ticket's number")
    sp.add_argument("--json", action="store_true", help="JSON for programs")
    sp = _command(a, "get", "attachments:cmd_get", "save attachments as files")
    sp.add_argument("ticket", type=int, metavar="TICKET", help="the ticket's number")
    sp.add_argument(
        "which", nargs="?", metavar="ID|NAME", help="one attachment (id or file name); default: all"
    )
    folder = sp.add_argument(
        "-o", "--output", metavar="DIR", help="folder to write into (default: the current one)"
    )
    _file(folder, shtab.DIRECTORY)


def _quarantine(q: Any) -> None:
    sp = _command(q, "list", "quarantine:cmd_list", "every entry with its state and error")
    sp.add_argument("--json", action="store_true", help="JSON for programs")
    sp = _command(q, "show", "quarantine:cmd_show", "one entry: the message's headers, the error")
    sp.add_argument("id", type=int, help="the entry's number (quarantine list)")
    sp.add_argument("--json", action="store_true", help="JSON for programs")
    sp = _command(q, "export", "quarantine:cmd_export", "the message's bytes, as they arrived")
    sp.add_argument("id", type=int, help="the entry's number (quarantine list)")
    _file(
        sp.add_argument(
            "-o", "--output", metavar="FILE", help="write to FILE (default: standard output)"
        )
    )
    sp = _command(
        q, "replay", "quarantine:cmd_replay", "process again after a fix: one entry, or all waiting"
    )
    sp.add_argument("id", type=int, nargs="?", help="only this entry (default: every waiting one)")
    sp = _command(q, "discard", "quarantine:cmd_discard", "no replay wanted (the mail is kept)")
    sp.add_argument("id", type=int, help="the entry's number (quarantine list)")


def day(value: str) -> date:
    """A calendar day, YYYY-MM-DD (the report's --since and --until)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None
