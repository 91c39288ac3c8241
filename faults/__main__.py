"""`python -m faults [all|kill|dovecot|smtp|sqlite-lock|robot|listener] [options]`: run, count.

Prints each scenario's table row.

Exit status 0 when every scenario run lost nothing and doubled nothing (at-least-once
resends of one outgoing mail are reported, not failed), 1 otherwise, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from faults.common import Result, table

SCENARIOS = ("kill", "dovecot", "smtp", "sqlite-lock", "robot", "listener")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    p.add_argument("scenario", nargs="?", default="all", choices=("all", *SCENARIOS))
    p.add_argument("--rounds", type=int, help="kill: rounds (20); dovecot: restarts (4)")
    p.add_argument("--messages", type=int, help="mails per round/run (1000; smtp: 200)")
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--seed", type=int, help="kill/dovecot: repeat the random moments")
    p.add_argument("--down", type=float, default=5.0, help="dovecot: seconds down per restart")
    p.add_argument("--smtp-outage", type=float, default=60.0, help="smtp: seconds down")
    p.add_argument("--lock-seconds", type=float, default=45.0, help="sqlite-lock: seconds held")
    p.add_argument("--seconds", type=float, default=300.0, help="robot: seconds of ping-pong")
    p.add_argument("--cap", type=int, default=40, help="robot: auto_mails_per_recipient_per_day")
    p.add_argument("--keep-thread", action="store_true", help="robot: replies keep the thread")
    p.add_argument("--big-mails", type=int, default=8, help="listener: 25 MiB mails at once")
    p.add_argument("--hold", type=int, default=50, help="listener: connections one client opens")
    p.add_argument("--keep", action="store_true", help="keep the work folders (logs, DB)")
    return p


def runners(a: argparse.Namespace) -> dict[str, Callable[[], Result]]:
    """Each scenario with the command line's sizes (imports late: one scenario, one cost)."""
    from faults import dovecot_restart, kill, listener, robot, smtp_outage, sqlite_lock

    def n(default: int) -> int:
        return a.messages if a.messages is not None else default

    return {
        "kill": lambda: kill.run(
            rounds=a.rounds or 20, messages=n(1000), db=a.db, seed=a.seed, keep=a.keep
        ),
        "dovecot": lambda: dovecot_restart.run(
            restarts=a.rounds or 4,
            messages=n(1000),
            down=a.down,
            db=a.db,
            seed=a.seed,
            keep=a.keep,
        ),
        "smtp": lambda: smtp_outage.run(
            outage=a.smtp_outage, messages=n(200), db=a.db, keep=a.keep
        ),
        "sqlite-lock": lambda: sqlite_lock.run(
            seconds=a.lock_seconds, messages=n(1000), db="sqlite", keep=a.keep
        ),
        "robot": lambda: robot.run(
            seconds=a.seconds, cap=a.cap, keep_thread=a.keep_thread, db=a.db, keep=a.keep
        ),
        "listener": lambda: listener.run(big=a.big_mails, hold=a.hold, db=a.db, keep=a.keep),
    }


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    chosen = list(SCENARIOS) if a.scenario == "all" else [a.scenario]
    if a.db == "postgresql" and "sqlite-lock" in chosen:
        if a.scenario == "sqlite-lock":
            print("sqlite-lock is a SQLite scenario; run it with --db sqlite", file=sys.stderr)
            return 2
        chosen.remove("sqlite-lock")
        print("(sqlite-lock skipped: --db postgresql)")
    print(
        f"maildesk faults {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()}"
        f" ({platform.machine()}, Python {platform.python_version()}), db {a.db}"
    )
    run = runners(a)
    results: list[Result] = []
    errors = 0
    for name in chosen:
        print(f"\n== {name}")
        t0 = time.monotonic()
        try:
            r = run[name]()
        except Exception:
            errors += 1
            print(f"  {name}: ERROR after {time.monotonic() - t0:.0f}s")
            traceback.print_exc()
            continue
        print(table([r]))
        results.append(r)
    if len(results) > 1:
        print("\n== summary")
        print(table(results))
    if errors:
        return 2
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
