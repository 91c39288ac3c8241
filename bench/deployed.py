"""The daemon as a user runs it (issue 12 item 1): `python -m maildesk run` in its own
process, agents configured, its outbox sender on (a maildir, or SMTP to an aiosmtpd server in
another process), its timers scheduled; the corpus APPENDed to its Dovecot INBOX only once
it has said READY=1 through the notify protocol (the bench listens on NOTIFY_SOCKET as systemd
would).

Timed from the first APPEND to the moment the INBOX is empty, every mail has its ledger row
and no outbox row is left to send: acknowledgements delivered, counted at the end (in the
maildir, or by the SMTP server). The daemon's own CPU time over that window comes from
/proc; `profile` samples it with py-spy (`pip install py-spy`) and says where its time goes,
by thread and by function.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import IMAP_USER, make_app, multiappend, spawn_daemon, start_dovecot, stop_daemon
from bench.corpus import Corpus
from bench.flush import sink_process

READY_TIMEOUT = 120.0
DRAIN_TIMEOUT = 900.0


@dataclass
class Deployed:
    label: str
    seconds: float
    cpu: float  # the daemon's CPU seconds (user + system) from first APPEND to drained
    counts: dict[str, int]
    profile: list[str] = field(default_factory=list)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _notify_socket(folder: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(folder / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        yield path, sock
    finally:
        sock.close()


def _wait_ready(sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the daemon exited before READY=1; see daemon.log")
        sock.settimeout(0.5)
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        if b"READY=1" in data.split(b"\n"):
            return
    raise RuntimeError("no READY=1 from the daemon")


def _state(app: Any) -> tuple[int, int]:
    """(ledger rows, outbox rows still to send)."""
    with app.db.transaction() as s:
        done = s.execute(text("SELECT count(*) FROM inbound")).scalar_one()
        left = s.execute(
            text("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")
        ).scalar_one()
    return int(done), int(left)


def _inbox_count(server: Any) -> int:
    with server.session(IMAP_USER) as client:
        return int(client.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"])


def _counts(app: Any, delivered: int) -> dict[str, int]:
    with app.db.transaction() as s:
        q = "SELECT template, state, count(*) FROM outbox GROUP BY 1, 2"
        rows = s.execute(text(q)).all()
        tickets = s.execute(text("SELECT count(*) FROM tickets")).scalar_one()
        inbound = s.execute(text("SELECT count(*) FROM inbound")).scalar_one()
    acks = sum(n for t, _, n in rows if t == "acknowledgement")
    acks_sent = sum(n for t, st, n in rows if t == "acknowledgement" and st == "sent")
    return {
        "ledger": int(inbound),
        "tickets": int(tickets),
        "acks_queued": int(acks),
        "acks_delivered": int(acks_sent),
        "mails_sent": sum(n for _, st, n in rows if st == "sent"),
        "mails_received_by_peer": delivered,
        "not_sent": sum(n for _, st, n in rows if st != "sent"),
    }


def run_deployed(
    corpus: Corpus,
    folder: Path,
    *,
    outbound: str,
    db_url: str | None = None,
    profile: bool = False,
) -> Deployed:
    """One deployed-shape run: returns the timing, the counts and (profile) the sampling
    profile's summary lines."""
    raws = corpus.rendered("maildesk")
    server = start_dovecot()
    proc: subprocess.Popen[bytes] | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        with contextlib.ExitStack() as stack:
            sections: dict[str, Any] = {"outbound": {"maildir": str(folder / "outbox")}}
            counts: list[int] = []
            if outbound == "smtp":
                port, counts = stack.enter_context(sink_process(pipelining=True))
                smtp = {"mode": "smtp", "host": "127.0.0.1", "port": port, "starttls": False}
                sections["outbound"] = smtp
            if db_url:
                sections["database"] = {"url": db_url}
            app = make_app(folder, corpus.registry_toml(), **sections)
            notify_path, sock = stack.enter_context(_notify_socket(folder))
            proc = spawn_daemon(folder, server, env={"NOTIFY_SOCKET": notify_path}, **sections)
            _wait_ready(sock, proc)
            if profile:
                spy = _start_spy(proc.pid, folder / "daemon.spy")
            c0 = _cpu_seconds(proc.pid)
            t0 = time.perf_counter()
            multiappend(server, raws)
            seconds = _wait_drained(app, server, proc, len(raws), t0)
            cpu = _cpu_seconds(proc.pid) - c0
            lines = _stop_spy(spy, folder / "daemon.spy") if spy is not None else []
            spy = None
            stop_daemon(proc)
            proc = None
        delivered = counts[0] if counts else len(list((folder / "outbox" / "new").iterdir()))
        result = Deployed("", seconds, cpu, _counts(app, delivered), lines)
        app.db.dispose()
        return result
    finally:
        if spy is not None:
            spy.kill()
        if proc is not None:
            stop_daemon(proc)
        server.stop()


def _wait_drained(app: Any, server: Any, proc: Any, n: int, t0: float) -> float:
    """Seconds from t0 until all n mails are filed and nothing is left to send (then the
    INBOX is checked empty, outside the timing)."""
    while time.perf_counter() - t0 < DRAIN_TIMEOUT:
        if proc.poll() is not None:
            raise RuntimeError("the daemon died during the run; see daemon.log")
        done, left = _state(app)
        if done >= n and left == 0:
            seconds = time.perf_counter() - t0
            if _inbox_count(server) == 0:
                return seconds
        time.sleep(0.02)
    raise RuntimeError(f"not drained after {DRAIN_TIMEOUT:.0f} s: {_state(app)}")


def _start_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("   (py-spy not installed: pip install py-spy; no profile)")
        return None
    cmd = [exe, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--threads"]
    return subprocess.Popen(
        [*cmd, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _stop_spy(spy: subprocess.Popen[bytes], out: Path) -> list[str]:
    spy.send_signal(2)  # SIGINT: py-spy writes what it has
    spy.wait(60)
    return summarize(out) if out.exists() else ["(no profile written)"]


#: Leaf frames of a thread that is waiting, not running: py-spy's idle detection misses
#: timed waits, so they are set apart here.
WAITS = ("wait", "_wait", "select", "sleep", "poll", "_worker", "readinto", "recv", "recv_into")
#: Functions whose share of the daemon's samples is worth a line (inclusive).
FUNCTIONS = (
    "accept_batch", "parse_limited", "gather", "apply_decision", "new_ticket", "queue_mail",
    "notify_agents", "store_message", "record_inbound", "store_blob", "Session.commit",
    "Connection._execute_context", "Session.flush", "compose", "Templates.render",
    "IMAPClient.fetch", "ImapConsumer._move", "flush", "send_many", "Claimer.sent",
    "Claimer.claim", "run_timers",
)  # fmt: skip


def summarize(path: Path) -> list[str]:
    """py-spy's raw (collapsed, --threads) stacks as lines: the share of running samples per
    thread, then per function (inclusive, across threads); waiting samples set apart."""
    running = waiting = 0
    threads: Counter[str] = Counter()
    funcs: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        n = int(n_text)
        frames = [f.split(" (")[0].strip() for f in stack.split(";")]
        if frames[-1].rsplit(".", 1)[-1] in WAITS or frames[-1] in WAITS:
            waiting += n
            continue
        running += n
        threads[stack.split(";", 1)[0].split(": ", 1)[-1]] += n
        for name in FUNCTIONS:
            if name in frames:
                funcs[name] += n
    if not running:
        return ["(no samples)"]
    out = [f"{running} running samples (py-spy, 200 Hz; {waiting} waiting set apart), by thread:"]
    out += [f"{100 * n / running:5.1f} %  {t}" for t, n in threads.most_common()]
    out.append("by function (inclusive):")
    out += [f"{100 * n / running:5.1f} %  {f}" for f, n in funcs.most_common() if n]
    return out
