"""Ingest throughput (SPEC §9): the corpus from a private Dovecot into committed tickets with
acknowledgements queued, then django-helpdesk and Roundup on the same corpus, in one run.

maildesk is timed from consumer start (connect, login, SELECT) to the last message filed
(its transaction committed, acknowledgement queued, message MOVEd), with the real
`ImapConsumer` and `accept` in this process; with `--daemon` the real `python -m maildesk run`
subprocess as deployed (bench/deployed.py): READY=1 first, then the corpus APPENDed, timed to
the INBOX drained and every acknowledgement delivered.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import (
    banner,
    cleanup,
    imap_settings,
    load,
    machine,
    make_app,
    multiappend,
    scratch,
    start_dovecot,
)
from bench.corpus import Corpus, generate

TARGET_RATE = 300.0  # SPEC §9 (issue 5 asks 400)
TARGET_RATIO = 10.0


def maildesk_counts(app: Any) -> dict[str, int]:
    """Outcomes as the database records them, named like the peers' counts."""
    with app.db.transaction() as s:
        outcomes = dict(s.execute(text("SELECT outcome, count(*) FROM inbound GROUP BY 1")).all())
        templates = dict(s.execute(text("SELECT template, count(*) FROM outbox GROUP BY 1")).all())
        auto = s.execute(
            text(
                "SELECT count(*) FROM inbound WHERE outcome = 'followed_up'"
                " AND reason LIKE '%automatic%'"
            )
        ).scalar_one()
        tickets = s.execute(text("SELECT count(*) FROM tickets")).scalar_one()
        attachments = s.execute(text("SELECT count(*) FROM attachments")).scalar_one()
    return {
        "tickets": int(tickets),
        "followups": int(outcomes.get("followed_up", 0)) - int(auto),
        "auto_recorded": int(auto),
        "acks": int(templates.get("acknowledgement", 0)),
        "rejected": int(outcomes.get("rejected", 0)),
        "ignored": int(outcomes.get("ignored", 0)),
        "quarantined": int(outcomes.get("quarantined", 0)),
        "attachments": int(attachments),
        "mails_out": int(sum(templates.values())),
    }


#: (label, module, attribute): where each stage is looked up at call time, nested by indent.
STAGES = (
    ("imap FETCH", "imapclient.imapclient", "IMAPClient.fetch"),
    ("imap MOVE", "maildesk.channels.imap", "ImapConsumer._move"),
    ("accept_batch (a transaction a batch)", "maildesk.pipeline.accept", "accept_batch"),
    ("  parse", "maildesk.pipeline.accept", "parse_limited"),
    ("  classify", "maildesk.pipeline.accept", "classify"),
    ("  gather facts", "maildesk.pipeline.accept", "gather"),
    ("  route", "maildesk.pipeline.accept", "route"),
    ("  store_blob (raw)", "maildesk.pipeline.accept", "store_blob"),
    ("  record_inbound (ledger)", "maildesk.pipeline.accept", "record_inbound"),
    ("  apply_decision", "maildesk.pipeline.accept", "apply_decision"),
    ("    open_ticket", "maildesk.pipeline.dispatch", "HANDLERS.new_ticket"),
    ("      new_ticket (incl. pick_assignee)", "maildesk.pipeline.customer", "new_ticket"),
    ("      notify_agents", "maildesk.pipeline.customer", "notify_agents"),
    ("    store_message", "maildesk.pipeline.customer", "store_message"),
    ("    thread_ids query", "maildesk.pipeline.customer", "thread_ids"),
    ("    queue_mail (customer notices)", "maildesk.pipeline.customer", "queue_mail"),
    ("    queue_mail (agents' notices)", "maildesk.pipeline.tell", "queue_mail"),
    ("      loop guard query (_blocked)", "maildesk.outbound.notices", "_blocked"),
    ("      render template", "maildesk.outbound.templates", "Templates.render"),
    ("      compose", "maildesk.outbound.notices", "compose"),
    ("  commit", "sqlalchemy.orm", "Session.commit"),
)


def _put(owner: Any, name: str, value: Any) -> None:
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


class StageTimer:
    """Wraps the STAGES functions with wall-clock accumulators; cheap enough to leave the
    proportions intact (unlike cProfile, which inflates call-heavy code such as the ORM)."""

    def __init__(self) -> None:
        self.totals = {label: 0.0 for label, _, _ in STAGES}
        self.calls = dict.fromkeys(self.totals, 0)
        self._undo: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        import functools
        import importlib

        for label, module, attr in STAGES:
            owner: Any = importlib.import_module(module)
            *path, name = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            if isinstance(owner, dict):  # a dispatch table: its keys are enum values
                name = next(key for key in owner if key == name)
                original = owner[name]
            elif isinstance(owner, type):
                original = owner.__dict__[name]
            else:
                original = getattr(owner, name)

            def wrapper(*a: Any, _f: Any = original, _l: str = label, **k: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return _f(*a, **k)
                finally:
                    self.totals[_l] += time.perf_counter() - t0
                    self.calls[_l] += 1

            _put(owner, name, functools.wraps(original)(wrapper))
            self._undo.append((owner, name, original))

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            _put(owner, name, original)
        self._undo.clear()

    def report(self, n: int, wall: float) -> None:
        print(f"\n   where maildesk's time goes ({n} messages, {wall:.2f} s wall):")
        print(f"   {'stage':42} {'calls':>6} {'ms/msg':>7} {'% wall':>7}")
        for label, total in self.totals.items():
            print(
                f"   {label:42} {self.calls[label]:6} {1000 * total / n:7.2f}"
                f" {100 * total / wall:6.1f}%"
            )


def run_consumer(
    corpus: Corpus, folder: Path, profile: str | None = None, stages: bool = False
) -> tuple[float, float, Any]:
    """APPEND the corpus, then time one consumer pass; returns (seconds, CPU seconds, app)."""
    import maildesk.pipeline.accept as pipeline
    from maildesk.channels.imap import ImapConsumer

    server = start_dovecot()
    try:
        raws = corpus.rendered("maildesk")
        t0 = time.perf_counter()
        multiappend(server, raws)
        print(f"   APPENDed {len(raws)} messages in {time.perf_counter() - t0:.2f} s (MULTIAPPEND)")
        app = make_app(folder, corpus.registry_toml())
        consumer = ImapConsumer(
            imap_settings(server),
            accept=lambda raw, source: pipeline.accept(app, raw, source),
            accept_batch=lambda items: pipeline.accept_batch(app, items),
            on_quarantine=lambda raw, source, error: (
                pipeline.quarantine(app, raw, source, error),
                None,
            )[1],
        )
        timer = StageTimer() if stages else None
        if timer is not None:
            timer.install()
        profiler: Any = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        handled = consumer.run_once()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        if timer is not None:
            timer.uninstall()
            timer.report(len(raws), seconds)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
            print(f"   cProfile written to {profile}")
        consumer._disconnect()  # no public close; run() does this on stop
        if handled != len(raws):
            print(f"   WARNING: consumer filed {handled} of {len(raws)}")
        return seconds, cpu, app
    finally:
        server.stop()


def _fmt_counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__)
    p.add_argument("--n", type=int, default=2000, help="corpus size (default 2000)")
    p.add_argument("--sizes", help="comma list of corpus sizes to run one after another")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--peers", default="helpdesk,roundup", help="comma list, or '' for none")
    p.add_argument(
        "--daemon",
        action="store_true",
        help="also the deployed shape: `maildesk run` timed from READY=1 (bench/deployed.py)",
    )
    p.add_argument("--outbound", default="maildir,smtp", help="the daemon's sender modes")
    p.add_argument("--pg", metavar="URL", help="the daemon on PostgreSQL too (throwaway schema)")
    p.add_argument("--spy", action="store_true", help="py-spy profile of each daemon run")
    p.add_argument("--profile", metavar="FILE", help="cProfile the consumer pass into FILE")
    p.add_argument("--stages", action="store_true", help="time maildesk's pipeline stages")
    p.add_argument("--keep", action="store_true", help="keep the run's work folder")
    p.add_argument("--plot", metavar="PNG", type=Path, help="write msg/s against corpus size")
    args = p.parse_args(argv)

    given = argv if argv is not None else sys.argv[1:]
    print(f"   command: python -m bench ingest {' '.join(given)}  ({machine()})")
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else [args.n]
    series: dict[str, list[tuple[int, float]]] = {}
    for n in sizes:
        for name, seconds in _run_size(args, n):
            series.setdefault(name, []).append((n, n / seconds))
    if len(sizes) > 1:
        print("\n   msg/s by corpus size (wall):")
        for name, points in series.items():
            print(f"   {name:31} " + "  ".join(f"{n}: {rate:.0f}" for n, rate in points))
    if args.plot:
        from bench.plots import throughput_png

        title = (
            f"Ingest throughput by corpus size, SQLite, 2 CPUs "
            f"({time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.1f} at the end)"
        )
        throughput_png(series, args.plot, title, TARGET_RATE)
        print(f"   plot written to {args.plot}")
    return 0


def _run_size(args: argparse.Namespace, n: int) -> list[tuple[str, float]]:
    """One corpus of `n` mails through maildesk and the peers; prints the table, returns
    (system, wall seconds) per system."""
    banner(f"ingest: {n} messages, seed {args.seed}")
    corpus = generate(n, args.seed)
    print(f"   corpus: {_fmt_counts(corpus.counts())}")
    print(f"   maildesk should do: {_fmt_counts(corpus.expected_maildesk())}")
    folder = scratch("ingest-")
    rows: list[tuple[str, float, float | None, dict[str, int]]] = []
    try:
        seconds, cpu, app = run_consumer(
            corpus, _mk(folder / "consumer"), args.profile, args.stages
        )
        rows.append(("maildesk (ImapConsumer+accept)", seconds, cpu, maildesk_counts(app)))
        app.db.dispose()
        if args.daemon:
            rows += _deployed_rows(args, corpus, folder)
        from bench.peers import RUNNERS

        for name in [x for x in args.peers.split(",") if x]:
            r = RUNNERS[name](corpus, folder)
            rows.append((r.system, r.seconds, r.cpu, r.counts))
    finally:
        cleanup(folder, args.keep)

    n = len(corpus.mails)
    head = f"{'system':31} {'wall s':>7} {'msg/s':>7} {'ms/msg':>7} {'cpu ms/msg':>10}"
    print(f"\n   {head}  outcomes")
    for name, seconds, cpu, counts in rows:
        cpu_ms = f"{1000 * cpu / n:10.2f}" if cpu is not None else f"{'-':>10}"
        print(
            f"   {name:31} {seconds:7.2f} {n / seconds:7.1f} {1000 * seconds / n:7.2f} {cpu_ms}"
            f"  {_fmt_counts(counts)}"
        )
    peers = [r for r in rows if not r[0].startswith("maildesk")]
    for name, wall0, cpu0, _ in rows:
        if not name.startswith("maildesk"):
            continue
        verdict = "meets" if n / wall0 >= TARGET_RATE else "MISSES"
        print(f"\n   {name}: {n / wall0:.0f} msg/s wall ({verdict} {TARGET_RATE:.0f} msg/s)")
        for peer, seconds, cpu, _ in peers:
            ratio = seconds / wall0
            verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
            by_cpu = f", {cpu / cpu0:.1f}x by CPU time" if cpu and cpu0 else ""
            print(
                f"     vs {peer}: {ratio:.1f}x by wall time{by_cpu} ({verdict} {TARGET_RATIO:.0f}x)"
            )
    print(f"   ({os.getloadavg()[0]:.2f} load at the end)")
    return [(name, seconds) for name, seconds, _, _ in rows]


def _deployed_rows(
    args: argparse.Namespace, corpus: Corpus, folder: Path
) -> list[tuple[str, float, float | None, dict[str, int]]]:
    """The daemon as deployed, per database and sender mode (see bench/deployed.py); its
    CPU column is the daemon process's."""
    from bench.deployed import run_deployed

    rows: list[tuple[str, float, float | None, dict[str, int]]] = []
    for db in [None, args.pg] if args.pg else [None]:
        for mode in [m for m in args.outbound.split(",") if m]:
            label = f"maildesk daemon {'pg' if db else 'sqlite'} {mode}"
            with _database(db) as url:
                r = run_deployed(
                    corpus, _mk(folder / label.replace(" ", "-")), outbound=mode, db_url=url,
                    profile=args.spy,
                )  # fmt: skip
            print(f"   {label}: {r.seconds:.2f} s, daemon CPU {r.cpu:.2f} s ({load()})")
            for line in r.profile:
                print(f"      {line}")
            rows.append((label, r.seconds, r.cpu, r.counts))
    return rows


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[str | None]:
    if url is None:
        yield None
        return
    from tests.servers.postgres import throwaway_schema

    with throwaway_schema(url, "bench") as scoped:
        yield scoped


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    sys.exit(main())
