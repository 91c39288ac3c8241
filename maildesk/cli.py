"""The `maildesk` command line (SPEC §6): stable commands, sysexits for `ingest`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from maildesk.errors import ConfigError, MaildeskError, RegistryError, TemporaryFailure

EX_OK, EX_USAGE, EX_DATAERR, EX_SOFTWARE, EX_TEMPFAIL, EX_CONFIG = 0, 64, 65, 70, 75, 78
_OPENED: list[Any] = []  # apps built by this invocation; their connections close at exit


def _app(args: argparse.Namespace, prepare: bool = True) -> Any:
    from maildesk.app import App
    from maildesk.config import load_config

    app = App(load_config(args.config))
    _OPENED.append(app)
    if prepare:
        app.prepare()
    return app


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    app = _app(args, prepare=False)
    app.prepare()
    print(f"database schema is up to date ({app.cfg.database.url.split('@')[-1]})")
    return EX_OK


def cmd_registry_import(args: argparse.Namespace) -> int:
    from maildesk.registry import import_registry_file

    app = _app(args)
    report = import_registry_file(app.db, args.file, dry_run=args.dry_run)
    prefix = "would be " if args.dry_run else ""
    for line in report.lines():
        print(prefix + line if line != "no changes" else line)
    return EX_OK


def cmd_ingest(args: argparse.Namespace) -> int:
    from maildesk.pipeline.accept import accept_or_quarantine
    from maildesk.pipeline.outcome import Kind

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
    app = _app(args)
    outcome = accept_or_quarantine(app, raw, source)
    number = f" #{outcome.ticket_number}" if outcome.ticket_number else ""
    print(f"{outcome.kind.value}{number}: {outcome.reason}")
    return EX_DATAERR if outcome.kind is Kind.QUARANTINED else EX_OK


def cmd_outbox_flush(args: argparse.Namespace) -> int:
    from maildesk.outbound.sender import flush

    app = _app(args)
    report = flush(app)
    print(f"sent {report.sent}, retry later {report.retried}, failed {report.failed}")
    for err in report.errors[:20]:
        print(f"  {err}", file=sys.stderr)
    return EX_OK


def _iso(value: datetime | None, tz: Any) -> str | None:
    return value.astimezone(tz).isoformat() if value else None


def cmd_tickets_list(args: argparse.Namespace) -> int:
    from maildesk.views import ticket_rows

    app = _app(args)
    rows = ticket_rows(app, args.state)
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EX_OK
    cols = ("number", "state", "type", "priority", "customer", "requester", "sla_due_at", "subject")
    table = [[str(r[c] if r[c] is not None else "-") for c in cols] for r in rows]
    for r in table:
        r[6] = r[6][:16].replace("T", " ")
    widths = [max([len(c)] + [len(r[i]) for r in table]) for i, c in enumerate(cols)]
    widths[-1] = min(widths[-1], 60)
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for r in table:
        print("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    print(f"({len(rows)} ticket{'s' if len(rows) != 1 else ''})")
    return EX_OK


def cmd_tickets_show(args: argparse.Namespace) -> int:
    from maildesk.views import ticket_detail

    app = _app(args)
    detail = ticket_detail(app, args.number)
    if detail is None:
        print(f"maildesk: no ticket #{args.number}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(detail, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EX_OK
    tag = f"[{app.cfg.support.subject_prefix} #{detail['number']}]"
    print(f"{tag} {detail['subject']}")
    for key in (
        "state",
        "type",
        "priority",
        "customer",
        "requester",
        "product",
        "assignee",
        "created_at",
        "sla_due_at",
        "resolved_at",
        "closed_at",
        "resolution_reason",
        "follows_up",
    ):
        if detail[key] not in (None, ""):
            print(f"  {key:18} {detail[key]}")
    for m in detail["messages"]:
        print(f"\n--- {m['date']}  {m['direction']}/{m['kind']}  {m['from']} → {m['to']}")
        print(f"    {m['subject']}")
        for line in m["body"].splitlines():
            print(f"    {line}")
        for a in m["attachments"]:
            print(f"    [attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    print("\nevents:")
    for e in detail["events"]:
        print(f"  {e['at']}  {e['kind']:20} {e['actor']}  {json.dumps(e['detail'])}")
    return EX_OK


def cmd_check(args: argparse.Namespace) -> int:
    from maildesk.checks import run_checks

    problems = run_checks(args.config)
    return EX_OK if not problems else 1


def cmd_quarantine(args: argparse.Namespace) -> int:
    from maildesk.views import quarantine_list, quarantine_replay

    app = _app(args)
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
    return EX_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maildesk", description="Email-first support ticketing.")
    p.add_argument("--config", help="config file (default: $MAILDESK_CONFIG, ./maildesk.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug lines to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str, parent: Any = sub
    ) -> argparse.ArgumentParser:
        sp = parent.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    add("run", _lazy("maildesk.daemon", "cmd_run"), "run the daemon in the foreground")
    sp = add("ingest", cmd_ingest, "one RFC 5322 message through the pipeline")
    sp.add_argument("file", nargs="?", help="message file, or - for stdin (default)")
    timers = sub.add_parser("timers", help="policy timers T1–T5").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    sp = add("run", _lazy("maildesk.timers", "cmd_timers_run"), "run every timer once", timers)
    sp.add_argument("--now", type=datetime.fromisoformat, help="as of this ISO 8601 instant")
    sp.add_argument("--dry-run", action="store_true", help="show what would happen")
    outbox = sub.add_parser("outbox", help="outgoing mail").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    add("flush", cmd_outbox_flush, "send what is due, once", outbox)
    db = sub.add_parser("db", help="database").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    add("upgrade", cmd_db_upgrade, "create or migrate the schema", db)
    reg = sub.add_parser("registry", help="customers, contacts, products").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    sp = add("import", cmd_registry_import, "import a registry file (all-or-nothing)", reg)
    sp.add_argument("file")
    sp.add_argument("--dry-run", action="store_true", help="show changes without writing")
    tickets = sub.add_parser("tickets", help="tickets").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    sp = add("list", cmd_tickets_list, "list tickets", tickets)
    sp.add_argument("--state", choices=("open", "resolved", "closed"))
    sp.add_argument("--json", action="store_true")
    sp = add("show", cmd_tickets_show, "show one ticket", tickets)
    sp.add_argument("number", type=int)
    sp.add_argument("--json", action="store_true")
    sla = sub.add_parser("sla", help="SLA").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    sp = add("report", _lazy("maildesk.reports", "cmd_sla_report"), "SLA status report", sla)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--since", type=datetime.fromisoformat, help="period start (ISO 8601)")
    add("check", cmd_check, "validate config, templates, database, IMAP/SMTP reachability")
    sp = add("quarantine", cmd_quarantine, "messages that failed: list, or replay after a fix")
    sp.add_argument("action", choices=("list", "replay"))
    sp.add_argument("id", nargs="?", type=int)
    return p


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose
        else logging.INFO
        if args.command == "run"
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"maildesk: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except RegistryError as exc:
        print(f"maildesk: registry not imported, nothing changed: {exc}", file=sys.stderr)
        return EX_DATAERR
    except TemporaryFailure as exc:
        print(f"maildesk: temporary failure, try again later: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    except MaildeskError as exc:
        print(f"maildesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        while _OPENED:
            _OPENED.pop().db.dispose()
