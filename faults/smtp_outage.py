"""The outbound SMTP server is down for a while as mail arrives (SPEC §8, T5).

The sink stops listening (connection refused), the mail is APPENDed in slices spread over
the first half of the outage, then the sink listens again on the same port. Every
acknowledgement must arrive afterwards, none twice, and no outbox row may have given up:
an unreachable server must not spend the rows' `max_attempts`.
"""

from __future__ import annotations

import time

from faults.common import (
    Batch,
    Result,
    environment,
    make_batch,
    multiappend,
    restart_sink,
    tally,
    wait_until,
)


def run(
    outage: float = 60.0,
    messages: int = 200,
    db: str = "sqlite",
    keep: bool = False,
    say: bool = True,
) -> Result:
    """The smtp scenario: `messages` mails arrive while the sink is down for `outage` s."""
    t0 = time.monotonic()
    total = Batch()
    extra: list[str] = []
    with environment("smtp", db, keep=keep) as env:
        server, sink = env.dovecot, env.sink
        assert server is not None and sink is not None
        d = env.start_daemon()
        port = sink.port
        sink.stop()
        down_at = time.monotonic()
        slices = 10
        for i in range(slices):
            n = messages // slices + (1 if i < messages % slices else 0)
            b = make_batch(f"s{i}", n)
            total.extend(b)
            multiappend(server, b.raws)
            time.sleep(outage / 2 / slices)
        timeout = max(120.0, messages * 0.5)
        wait_until(lambda: env.inbox() == 0, timeout, "an empty INBOX", 0.2)
        ingested = env.tickets()
        queued = env.outbox_unsent()
        time.sleep(max(0.0, down_at + outage - time.monotonic()))
        restart_sink(sink, port)
        up_at = time.monotonic()
        if say:
            print(
                f"  sink down {up_at - down_at:.0f}s: {ingested} tickets made meanwhile,"
                f" {queued} mails queued; sink back"
            )
        wait_until(lambda: env.outbox_unsent() == 0, outage + 120, "the outbox to empty", 0.2)
        delivered_in = time.monotonic() - up_at
        time.sleep(2.0)  # a duplicate would arrive by now
        rc, _ = d.term()
        t = tally(env, total)
        extra.append(
            f"sink down {outage:g}s; queue of {queued} delivered {delivered_in:.1f}s after it"
            f" came back (sender backoff caps at 30 s); daemon exit {rc}"
        )
    res = Result("smtp", db, 1, messages, t, time.monotonic() - t0, extra)
    # No crash here: every resend is a double.
    res.passed = t.ok and rc == 0 and not t.redelivered_acks and not t.redelivered_other
    return res
