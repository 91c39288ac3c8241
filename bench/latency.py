"""Acknowledgement latency (SPEC §9): APPEND at a steady rate, IMAP IDLE, SMTP out to an
aiosmtpd sink; per message, from the start of its APPEND to its acknowledgement's arrival.

With `--daemon` the real `python -m maildesk run` subprocess does the work; without it the
bench wires the same parts in this process: the real `ImapConsumer` (IDLE) in one thread and
a sender thread calling `outbound.sender.flush(app)` in a loop (every `--flush-every`
seconds when idle). Acknowledgements are matched to their mail by In-Reply-To; one warm-up
mail, not counted, makes sure the receiver is connected and idle before the clock starts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bench.common import (
    IMAP_USER,
    banner,
    cleanup,
    imap_settings,
    make_app,
    scratch,
    spawn_daemon,
    start_dovecot,
    stop_daemon,
)
from bench.corpus import BASE_TIME, SUPPORT, generate

TARGET_P95 = 1.0


class TimedSink:
    """The test suite's SMTP sink, stamping each arrival with a monotonic time."""

    def __init__(self) -> None:
        from tests.servers.smtp_sink import SmtpSink

        outer = self

        class _Sink(SmtpSink):
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                reply = await super().handle_DATA(server, session, envelope)
                raw = envelope.original_content or envelope.content
                outer.arrivals.append((time.monotonic(), list(envelope.rcpt_tos), bytes(raw)))
                return reply

        self.arrivals: list[tuple[float, list[str], bytes]] = []
        self.sink = _Sink()

    def start(self) -> None:
        self.sink.start()

    def stop(self) -> None:
        self.sink.stop()

    @property
    def port(self) -> int:
        return int(self.sink.port)


def new_topic(i: int, sender: str) -> tuple[str, bytes]:
    """A new-topic mail from a registered contact: each one must get an acknowledgement."""
    mid = f"<latency.{i}.{time.time_ns()}@mail.example>"
    m = EmailMessage()
    m["From"] = sender
    m["To"] = SUPPORT
    m["Date"] = format_datetime(BASE_TIME)
    m["Message-ID"] = mid
    m["Subject"] = f"La exportación falla otra vez ({i})"
    m.set_content(f"Hola,\n\nel reporte {i} no se genera.\n\nGracias\n")
    return mid, m.as_bytes()


def _sender_loop(app: Any, stop: threading.Event, every: float, errors: list[str]) -> None:
    from maildesk.outbound.sender import flush

    while not stop.is_set():
        try:
            report = flush(app)
        except Exception as exc:  # keep measuring; report at the end
            errors.append(f"{type(exc).__name__}: {exc}")
            stop.wait(every)
            continue
        if not report.sent:
            stop.wait(every)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__)
    p.add_argument("--rate", type=float, default=10.0, help="messages per second offered")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to offer them")
    p.add_argument("--flush-every", type=float, default=0.05, help="sender poll when idle (s)")
    p.add_argument("--daemon", action="store_true", help="run the real daemon subprocess")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--plot", metavar="PNG", type=Path, help="write the latency distribution")
    args = p.parse_args(argv)
    from maildesk.channels.imap import ImapConsumer
    from maildesk.pipeline.accept import accept, accept_batch, quarantine

    total = int(args.rate * args.seconds)
    banner(f"latency: {args.rate:g} msg/s for {args.seconds:g} s ({total} mails), IDLE, SMTP out")
    if args.daemon:
        print("   receiver: the daemon subprocess (python -m maildesk run)")
    else:
        print("   receiver: ImapConsumer (IDLE) thread + flush() loop thread in this process")
    folder = scratch("latency-")
    server = start_dovecot()
    sink = TimedSink()
    sink.start()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    errors: list[str] = []
    sent: dict[str, float] = {}
    proc = None
    outbound = {"mode": "smtp", "host": "127.0.0.1", "port": sink.port, "starttls": False}
    outbound["ssl"] = False
    try:
        app = make_app(folder, generate(1).registry_toml(), outbound=outbound)
        if args.daemon:
            proc = spawn_daemon(folder, server, outbound=outbound)
        consumer = ImapConsumer(
            imap_settings(server, idle=True),
            accept=lambda raw, source: accept(app, raw, source),
            accept_batch=lambda items: accept_batch(app, items),
            on_quarantine=lambda raw, source, error: (quarantine(app, raw, source, error), None)[1],
        )
        if proc is None:
            threads = [
                threading.Thread(target=consumer.run, args=(stop,), daemon=True),
                threading.Thread(
                    target=_sender_loop, args=(app, stop, args.flush_every, errors), daemon=True
                ),
            ]
            for t in threads:
                t.start()
        contacts = generate(1).contacts
        warm_id, warm = new_topic(-1, contacts[0].email)
        server.append(IMAP_USER, warm)
        warm_sent = {warm_id: time.monotonic()}
        deadline = time.monotonic() + 30
        while not _matched(sink, warm_sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _matched(sink, warm_sent):
            print("   the warm-up mail was never acknowledged; measuring anyway")
        time.sleep(0.5)  # back to IDLE
        mails = [new_topic(i, contacts[i % len(contacts)].email) for i in range(total)]
        with server.session(IMAP_USER) as client:
            start = time.monotonic()
            for i, (mid, raw) in enumerate(mails):
                delay = start + i / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent[mid] = time.monotonic()
                client.append("INBOX", raw)
        offered = time.monotonic() - start
        wait_until = time.monotonic() + 30
        while time.monotonic() < wait_until and len(_matched(sink, sent)) < total:
            time.sleep(0.1)
    finally:
        if proc is not None:
            stop_daemon(proc)
        stop.set()
        for t in threads:
            t.join(10)
        sink.stop()
        server.stop()
        cleanup(folder, args.keep)
    got = _matched(sink, sent)
    latencies = [got[mid] - sent[mid] for mid in got]
    print(f"   offered {total} in {offered:.1f} s ({total / offered:.1f} msg/s)")
    if errors:
        print(f"   sender errors: {len(errors)} (first: {errors[0]})")
    if not latencies:
        print("   no acknowledgement arrived")
        return 1
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(
        f"   acknowledgements {len(latencies)}/{total}: p50 {p50 * 1000:.0f} ms,"
        f" p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms,"
        f" mean {statistics.fmean(latencies) * 1000:.0f} ms"
    )
    verdict = "meets" if p95 < TARGET_P95 and len(latencies) == total else "MISSES"
    print(f"   {verdict} the p95 < {TARGET_P95:.0f} s target")
    if args.plot:
        from bench.plots import latency_png

        who = "daemon subprocess" if args.daemon else "ImapConsumer + sender in-process"
        title = (
            f"maildesk acknowledgement latency, {args.rate:g} msg/s for {args.seconds:g} s, "
            f"{who} ({time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.1f})"
        )
        latency_png([x * 1000 for x in latencies], args.plot, title, TARGET_P95 * 1000)
        print(f"   plot written to {args.plot}")
    return 0


def _matched(sink: TimedSink, sent: dict[str, float]) -> dict[str, float]:
    """Message-ID of our mail -> arrival time of the first mail answering it (In-Reply-To)."""
    parser = BytesHeaderParser()
    out: dict[str, float] = {}
    for at, _rcpts, raw in list(sink.arrivals):
        head = parser.parsebytes(raw)
        for mid in (head.get("In-Reply-To") or "").split():
            if mid in sent and mid not in out:
                out[mid] = at
    return out


if __name__ == "__main__":
    sys.exit(main())
