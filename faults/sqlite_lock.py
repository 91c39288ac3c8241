"""Another process holds the SQLite write lock during an ingest (SPEC §8).

Half the mail is APPENDed and the daemon started; once it is filing, a separate process
runs `BEGIN IMMEDIATE` and sits on the lock for `seconds`, while the other half arrives.
maildesk waits up to its busy timeout (30 s), then the pipeline raises TemporaryFailure:
the message stays in INBOX and is offered again after a backoff. With the default 45 s
both paths are exercised. Afterwards nothing may be lost or doubled.
"""

from __future__ import annotations

import subprocess
import sys
import time

from faults.common import Batch, Result, environment, make_batch, multiappend, tally, wait_until
from maildesk.outbound.claims import LEASE

LOCKER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
print("released", flush=True)
"""


def run(
    seconds: float = 45.0,
    messages: int = 1000,
    db: str = "sqlite",
    keep: bool = False,
    say: bool = True,
    wait_leases: bool = True,
) -> Result:
    """The sqlite-lock scenario (SQLite only: PostgreSQL has no database-wide write lock)."""
    if db != "sqlite":
        raise ValueError("sqlite-lock needs --db sqlite")
    t0 = time.monotonic()
    total = Batch()
    extra: list[str] = []
    with environment("sqlite-lock", db, keep=keep) as env:
        server = env.dovecot
        assert server is not None
        first = make_batch("l0", messages // 2)
        second = make_batch("l1", messages - messages // 2)
        total.extend(first)
        total.extend(second)
        multiappend(server, first.raws)
        d = env.start_daemon()
        timeout = max(120.0, messages * 0.5)
        mark = max(1, len(first.raws) // 10)
        wait_until(lambda: env.folder("Processed") >= mark, timeout, "the ingest", 0.05)
        path = env.db_url.removeprefix("sqlite:///")
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, path, str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert locker.stdout is not None
            line = locker.stdout.readline().strip()
            if line != "locked":
                raise RuntimeError(f"locker did not get the lock: {line!r}")
            locked_at = time.monotonic()
            left = env.inbox()
            multiappend(server, second.raws)
            locker.wait(seconds + 60)
            held = time.monotonic() - locked_at
        finally:
            if locker.poll() is None:
                locker.kill()
                locker.wait(10)
            if locker.stdout is not None:
                locker.stdout.close()
        if say:
            print(f"  write lock held {held:.0f}s; {left} left in INBOX when it was taken")
        if not d.alive():
            raise RuntimeError(f"daemon died under the lock:\n{d.log()[-3000:]}")
        stuck = env.drain(timeout)
        if stuck:
            if say:
                print(
                    f"  {stuck} outbox row(s) still claimed 60 s after the ingest"
                    " (behind the 5-minute lease)"
                )
            t_stuck = time.monotonic()
            d = env.settle_leases(d, wait_leases, LEASE.total_seconds() + 120)
            extra.append(
                f"BUG? {stuck} outbox row(s) stayed claimed ('sending', no progress for 60 s)"
                " after the lock: a TemporaryFailure inside flush() leaves the claimed batch"
                f" leased for {LEASE.total_seconds() / 60:g} min; delivered"
                + (
                    f" {time.monotonic() - t_stuck:.0f}s later"
                    if wait_leases
                    else " (lease fast-forwarded)"
                )
            )
        time.sleep(1.0)
        rc, _ = d.term()
        log = d.log()
        t = tally(env, total)
        temp = log.count("pipeline unavailable")
        sender = log.count("outbox: database unavailable")
        extra.append(
            f"lock held {held:.0f}s (busy timeout 30 s): the consumer went into backoff on"
            f" TemporaryFailure {temp} time(s), the sender {sender} time(s);"
            f" daemon exit {rc}"
        )
    res = Result("sqlite-lock", db, 1, messages, t, time.monotonic() - t0, extra)
    # No crash here, so at-least-once is no excuse: a resent acknowledgement is a double.
    res.passed = t.ok and rc == 0 and not stuck and not t.redelivered_acks
    res.passed = res.passed and not t.redelivered_other
    return res
