"""T5 flush throughput (issue 12): N queued notices delivered by one `flush`, to a maildir
and to an aiosmtpd server in its own process (PIPELINING offered, as Postfix does), on
SQLite and, with --pg URL, on PostgreSQL.

The rows are what a timer sweep queues (a ~1.3 KB notice, one in four with a 6 KB
attachment, as T1's transcript). Printed per run: wall seconds, mails/s, CPU ms a mail of
the sending process (steadier than wall time on a loaded machine), and the load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.common import REPO, banner, cleanup, load, machine, make_app, scratch

SINK = """
import signal, sys, threading
sys.path.insert(0, {repo!r})
from tests.servers.smtp_sink import SmtpSink
sink = SmtpSink()
sink.pipelining = {pipelining!r}
sink.start()
print(sink.port, flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
done.wait()
print(len(sink.messages), getattr(sink, "sessions", -1), flush=True)
sink.stop()
"""


@contextlib.contextmanager
def sink_process(pipelining: bool) -> Iterator[tuple[int, list[int]]]:
    """The test suite's aiosmtpd sink in a child process: (port, [messages, sessions])."""
    code = SINK.format(repo=str(REPO), pipelining=pipelining)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    counts: list[int] = []
    try:
        yield port, counts
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        counts += [int(x) for x in out.split()]


def queue_rows(app: Any, n: int) -> None:
    """n due outbox rows shaped like a sweep's notices (composed by maildesk itself)."""
    from maildesk.outbound.compose import compose
    from maildesk.store.models import Outbox

    now = datetime.now(UTC)
    text = ("Le informamos que su solicitud fue atendida y cerrada. " * 12 + "\n") * 2
    rows = []
    for i in range(n):
        attach = (
            [("transcript.txt", "text/plain", b"linea del historial\n" * 300)] if i % 4 == 0 else []
        )
        mid = f"bench-{i}@support.example"
        raw = compose(
            from_addr="support@example.test",
            from_name="Soporte",
            to=f"cliente{i % 200}@example.test",
            subject=f"[BITAM #{i}] Su solicitud fue cerrada",
            text=text,
            message_id=mid,
            date=now,
            loop_address="support@example.test",
            auto_submitted="auto-generated",
            attachments=attach,
        )
        rows.append(
            {
                "created_at": now,
                "due_at": now,
                "template": "closed",
                "automatic": True,
                "to_addr": f"cliente{i % 200}@example.test",
                "message_id": mid,
                "raw": raw,
                "state": "pending",
                "attempts": 0,
            }
        )
    with app.db.transaction() as s:
        for start in range(0, n, 1000):
            s.execute(insert(Outbox), rows[start : start + 1000])


def one_run(mode: str, n: int, folder: Path, db_url: str | None, pipelining: bool) -> dict:
    from maildesk.outbound.sender import flush
    from maildesk.store.models import Outbox

    sections: dict[str, Any] = {"outbound": {"mode": "maildir", "maildir": str(folder / "md")}}
    if db_url:
        sections["database"] = {"url": db_url}
    with contextlib.ExitStack() as stack:
        counts: list[int] = []
        if mode == "smtp":
            port, counts = stack.enter_context(sink_process(pipelining))
            sections["outbound"] = {
                "mode": "smtp", "host": "127.0.0.1", "port": port, "starttls": False,
            }  # fmt: skip
        app = make_app(folder, **sections)
        _ = app.secret
        queue_rows(app, n)
        c0, t0 = time.process_time(), time.perf_counter()
        report = flush(app)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        with app.db.transaction() as s:
            sent = s.scalar(select(func.count()).where(Outbox.state == "sent"))
        app.db.dispose()
    delivered = counts[0] if counts else len(list((folder / "md" / "new").iterdir()))
    return {
        "wall": wall, "cpu": cpu, "sent": report.sent, "recorded": sent,
        "delivered": delivered, "sessions": counts[1] if counts else None,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench flush", description=__doc__)
    p.add_argument("--n", type=int, default=13333, help="mails queued (default: a 1 M sweep's)")
    p.add_argument("--modes", default="maildir,smtp")
    p.add_argument("--pg", metavar="URL", help="also on this PostgreSQL (a throwaway schema)")
    p.add_argument("--no-pipelining", action="store_true", help="the sink offers no PIPELINING")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    banner(f"T5 flush: {args.n} queued mails, modes {args.modes}")
    given = argv if argv is not None else sys.argv[1:]
    print(f"   command: python -m bench flush {' '.join(given)}  ({machine()})")
    dbs: list[str | None] = [None] + ([args.pg] if args.pg else [])
    print(f"\n   {'db':10} {'mode':8} {'wall s':>7} {'mails/s':>8} {'cpu ms/mail':>11}  checks")
    for db in dbs:
        for mode in args.modes.split(","):
            folder = scratch(f"flush-{mode}-")
            try:
                with _database(db) as url:
                    r = one_run(mode, args.n, folder, url, not args.no_pipelining)
            finally:
                cleanup(folder, args.keep)
            checks = f"sent={r['sent']} recorded={r['recorded']} delivered={r['delivered']}"
            if r["sessions"] is not None:
                checks += f" smtp_sessions={r['sessions']}"
            print(
                f"   {'postgresql' if db else 'sqlite':10} {mode:8} {r['wall']:7.2f}"
                f" {args.n / r['wall']:8.0f} {1000 * r['cpu'] / args.n:11.3f}  {checks}"
                f"  ({load()})",
                flush=True,
            )
    return 0


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[str | None]:
    if url is None:
        yield None
        return
    from tests.servers.postgres import throwaway_schema

    with throwaway_schema(url, "bench") as scoped:
        yield scoped


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
