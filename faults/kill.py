"""kill -9 the daemon at a random moment of an ingest, restart it, count (SPEC §8, R1).

Each round APPENDs a fresh batch to a private Dovecot while no daemon runs, starts the
daemon, SIGKILLs its process group at a moment drawn uniformly over the ingest time
measured in a calibration run (start-up included), restarts it until the INBOX is empty
and the outbox has nothing due, then stops it with SIGTERM. At the end every generated
Message-ID must be in the database exactly once and every new ticket acknowledged once.

At-least-once delivery: a kill after the SMTP server said 250 but before the outbox row
was marked sent means that one mail is sent again, with the same Message-ID, by the
restarted daemon (each mail is recorded as soon as it is sent, and a dead sender's claims
are taken back at once: outbound/claims.py). Those are counted as "acks resent", apart
from real duplicates (two different acknowledgements for one message), which would be a
bug; more than one per flusher per kill is reported.
"""

from __future__ import annotations

import random
import time

from faults.common import Batch, Env, Result, environment, make_batch, multiappend, tally

IN_FLIGHT = 1  # mails a flusher can have sent but not yet recorded when it is killed


def _ingest_once(env: Env, batch: Batch, timeout: float) -> float:
    """Calibration: one uninterrupted ingest; seconds from spawn to an empty INBOX."""
    assert env.dovecot is not None
    multiappend(env.dovecot, batch.raws)
    d = env.start_daemon(ready=False)
    env.drain(timeout, settle=0.0)
    took = time.monotonic() - d.spawned
    rc, _ = d.term()
    if rc != 0:
        raise RuntimeError(f"calibration daemon exited {rc}:\n{d.log()[-3000:]}")
    return took


def run(
    rounds: int = 20,
    messages: int = 1000,
    db: str = "sqlite",
    seed: int | None = None,
    keep: bool = False,
    say: bool = True,
) -> Result:
    """The kill scenario; returns its table row (and prints one line per round)."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    t0 = time.monotonic()
    total = Batch()
    extra = [f"seed {seed} (--seed {seed} repeats the kill moments)"]
    bad_exits = 0
    with environment("kill", db, keep=keep) as env:
        assert env.dovecot is not None
        cal = make_batch("cal", messages)
        total.extend(cal)
        timeout = max(120.0, messages * 0.5)
        expected = _ingest_once(env, cal, timeout)
        if say:
            print(f"  calibration: {messages} messages ingested {expected:.1f}s after spawn")
        for r in range(1, rounds + 1):
            b = make_batch(f"r{r}", messages)
            total.extend(b)
            multiappend(env.dovecot, b.raws)
            d = env.start_daemon(ready=False)
            at = rng.uniform(0.0, expected)
            while d.alive() and time.monotonic() < d.spawned + at:
                time.sleep(0.005)
            started = "daemon started" in d.log()
            d.kill9()
            left = env.inbox()
            # Restarted and running before anything else: with nothing left to ingest the
            # drain returns at once, and a SIGTERM during start-up (before the daemon's
            # handlers exist) would end it by the signal, not by its clean stop.
            d = env.start_daemon()
            env.drain(timeout, settle=3.0)  # the killed sender's claims are taken back at once
            rc, took = d.term()
            if rc != 0:
                bad_exits += 1
            if say:
                print(
                    f"  round {r:2d}: kill -9 at {at:5.2f}s"
                    f" ({'running' if started else 'starting'}), {left:4d} left in INBOX;"
                    f" restarted, drained, SIGTERM exit {rc} in {took:.1f}s"
                )
        leased = env.expire_leases()
        if leased:
            # Rows still behind a lease (a claimer this host could not prove dead): fast-
            # forwarded (due_at = now) instead of sleeping 5 minutes, then delivered.
            d = env.start_daemon()
            env.drain(timeout)
            time.sleep(1.0)
            d.term()
        time.sleep(1.0)  # a late duplicate would arrive by now
        t = tally(env, total)
        processed = env.folder("Processed")
        extra.append(
            f"{leased} outbox row(s) were held by a killed sender's lease (5 min) at the end;"
            " fast-forwarded, then delivered"
        )
        extra.append(f"IMAP Processed folder holds {processed} for {len(total.raws)} messages")
        if bad_exits:
            extra.append(f"{bad_exits} SIGTERM stop(s) did not exit 0")
        resent = t.redelivered_acks + t.redelivered_other
        bound = 2 * IN_FLIGHT * rounds
        if resent > bound:
            # Each flusher (sender loop, timers' T5) records every send as it completes, so
            # one kill can leave at most its mail in flight delivered but unrecorded.
            extra.append(
                f"WARNING: {resent} resends for {rounds} kills: more than {bound}"
                f" ({IN_FLIGHT} per flusher per kill)"
            )
        if resent:
            extra.append(
                "resent = same outgoing Message-ID delivered again: the daemon died after the"
                " sink's 250 and before marking the row sent (at-least-once, by design)"
            )
    res = Result("kill", db, rounds, messages, t, time.monotonic() - t0, extra)
    if bad_exits:
        res.passed = False
    return res
