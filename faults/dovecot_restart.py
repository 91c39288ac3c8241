"""Dovecot stopped for a few seconds, several times, in the middle of an ingest (SPEC §8).

The mail is split into one batch per restart. For each: APPEND the batch, wait until the
daemon has filed part of it (the ingest is under way), stop Dovecot (clients see the
connection drop, possibly between a commit and its MOVE), wait `down` seconds, start it
again on the same port. The daemon must reconnect by itself, nothing lost or doubled.
"""

from __future__ import annotations

import random
import time

from faults.common import Batch, Result, environment, make_batch, multiappend, tally, wait_until


def run(
    restarts: int = 4,
    messages: int = 1000,
    down: float = 5.0,
    db: str = "sqlite",
    seed: int | None = None,
    keep: bool = False,
    say: bool = True,
) -> Result:
    """The dovecot scenario: `restarts` stop/start cycles over a `messages`-message ingest."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    t0 = time.monotonic()
    total = Batch()
    extra: list[str] = [f"Dovecot down {down:g}s per restart; seed {seed}"]
    with environment("dovecot", db, keep=keep) as env:
        server = env.dovecot
        assert server is not None
        d = env.start_daemon()
        per = max(1, messages // restarts)
        timeout = max(120.0, messages * 0.5)
        for r in range(restarts):
            n = per if r < restarts - 1 else messages - per * (restarts - 1)
            b = make_batch(f"d{r}", n)
            total.extend(b)
            before = env.folder("Processed")
            multiappend(server, b.raws)
            # Under way: between 5 % and 60 % of this batch filed, drawn at random.
            mark = before + max(1, int(n * rng.uniform(0.05, 0.6)))
            wait_until(lambda mark=mark: env.folder("Processed") >= mark, timeout, "ingest", 0.05)
            left = env.inbox()
            server.stop(remove=False)
            t_down = time.monotonic()
            time.sleep(down)
            server.start()
            if say:
                print(
                    f"  restart {r + 1}: Dovecot stopped with {left} message(s) in INBOX,"
                    f" back after {time.monotonic() - t_down:.1f}s"
                )
            if not d.alive():
                raise RuntimeError(f"daemon died during the outage:\n{d.log()[-3000:]}")
        env.drain(timeout)
        time.sleep(1.0)
        rc, _ = d.term()
        t = tally(env, total)
        processed = env.folder("Processed")
        reconnects = d.log().count("-> connected")
        extra.append(f"daemon reconnected {reconnects} time(s) (incl. the first); exit {rc}")
        extra.append(f"IMAP Processed folder holds {processed} for {len(total.raws)} messages")
    res = Result("dovecot", db, restarts, messages, t, time.monotonic() - t0, extra)
    if rc != 0:
        res.passed = False
    return res
