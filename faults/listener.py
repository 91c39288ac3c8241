"""The SMTP listener under attack (issue 10 findings 3 and 4, SPEC §9 and §10).

The daemon runs in listener mode. One client (127.0.0.2) opens `hold` connections and keeps
each one alive with a NOOP every few seconds; at the same time `big` clients (127.0.1.x)
deliver a 25 MiB plain-text mail each, all at once; meanwhile an ordinary customer
(127.0.0.1) sends a small mail every second. Printed: how many of the hoarder's connections
were let in, whether the customer was served (and how fast), every big mail's answer, and
the daemon's RSS before, at its peak (VmHWM) and after. Passed when every mail was answered
250 and recorded once, and the customer was served while the attack went on.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import threading
import time
from pathlib import Path

from bench.corpus import big_text_message
from faults.common import Result, Tally, environment, wait_until
from tests.helpers import make_mail
from tests.servers.dovecot import free_port

SUPPORT = "customerservice@support.example"
CUSTOMER = "ana@acme.example"


def _status(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _send(port: int, raw: bytes, source: str) -> tuple[int, float]:
    """One SMTP transaction from `source`; (reply code, seconds). 0: no answer at all."""
    t0 = time.perf_counter()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=600, source_address=(source, 0)) as c:
            c.ehlo()
            c.mail(CUSTOMER)
            c.rcpt(SUPPORT)
            code, _ = c.data(raw)
    except smtplib.SMTPConnectError as exc:
        code = exc.smtp_code
    except (smtplib.SMTPException, OSError):
        code = 0
    return code, time.perf_counter() - t0


class Hoarder:
    """Opens `n` connections from one address and keeps the admitted ones busy with NOOP."""

    def __init__(self, port: int, n: int) -> None:
        self.socks: list[socket.socket] = []
        self.greetings: list[bytes] = []
        for _ in range(n):
            sock = socket.create_connection(
                ("127.0.0.1", port), timeout=30, source_address=("127.0.0.2", 0)
            )
            line = sock.makefile("rb").readline()
            self.greetings.append(line[:3])
            if line.startswith(b"220"):
                self.socks.append(sock)
            else:
                sock.close()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._ping, daemon=True)
        self.thread.start()

    def _ping(self) -> None:
        while not self.stop.wait(5.0):
            for sock in list(self.socks):
                try:
                    sock.sendall(b"NOOP\r\n")
                    sock.recv(512)
                except OSError:
                    self.socks.remove(sock)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.close()


def run(
    big: int = 8,
    mib: float = 25.0,
    hold: int = 50,
    db: str = "sqlite",
    keep: bool = False,
    say: bool = True,
) -> Result:
    t0 = time.monotonic()
    size = int(mib * 1024 * 1024) - 16 * 1024
    bigs = [big_text_message(size, CUSTOMER, seed=100 + i) for i in range(big)]
    port = free_port()
    smtp = {"host": "127.0.0.1", "port": port}
    small: list[tuple[int, float]] = []
    big_replies: list[tuple[int, float]] = [(0, 0.0)] * big
    with environment(
        "listener", db, imap=False, keep=keep, inbound={"mode": "smtp", "smtp": smtp}
    ) as env:
        d = env.start_daemon()
        before = _status(d.proc.pid)["VmRSS"]
        hoarder = Hoarder(port, hold)
        try:

            def one(i: int) -> None:
                big_replies[i] = _send(port, bigs[i], f"127.0.1.{i + 1}")

            senders = [threading.Thread(target=one, args=(i,)) for i in range(big)]
            for t in senders:
                t.start()
            n = 0
            while any(t.is_alive() for t in senders) or n < 5:
                n += 1
                raw = make_mail(message_id=f"<small{n}@acme.example>", body=f"Consulta {n}.\n")
                small.append(_send(port, raw, "127.0.0.1"))
                time.sleep(1.0)
            for t in senders:
                t.join()
            admitted = len([g for g in hoarder.greetings if g == b"220"])
            alive = len(hoarder.socks)
        finally:
            hoarder.close()
        expected = big + len(small)
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: env.tickets() >= expected, 120, "the tickets", 0.5)
        time.sleep(2.0)
        st = _status(d.proc.pid)
        rc, _ = d.term()
        t = Tally(expected_tickets=expected, tickets=env.tickets())
    served = [s for code, s in small if code == 250]
    extra = [
        f"hoarder from 127.0.0.2: {admitted} of {hold} connections let in"
        f" (the rest 421), {alive} still open and pinging at the end",
        f"customer from 127.0.0.1 during the attack: {len(served)}/{len(small)} mails answered"
        f" 250, slowest {max(served, default=0):.1f} s",
        f"{big} x {size / 2**20:.1f} MiB text at once: replies"
        f" {' '.join(str(c) for c, _ in big_replies)}, slowest"
        f" {max(s for _, s in big_replies):.0f} s",
        f"daemon RSS: before {before:.0f} MiB, peak {st['VmHWM']:.0f} MiB, after"
        f" {st['VmRSS']:.0f} MiB (SPEC §9: < 150 MiB for one 25 MiB mail); exit {rc}",
    ]
    if say:
        for line in extra:
            print("  " + line)
    res = Result("listener", db, 1, expected, t, time.monotonic() - t0, extra)
    res.passed = (
        t.tickets == expected
        and len(served) == len(small)
        and all(code == 250 for code, _ in big_replies)
        and admitted < hold
        and rc == 0
    )
    return res
