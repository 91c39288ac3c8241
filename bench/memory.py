"""Memory (SPEC §9): peak RSS while maildesk ingests 25 MiB mail.

Two ways in:

- `--via accept` (default): one mail with one big attachment through `accept()` in a fresh
  subprocess, so nothing else has raised the high-water mark: RSS after imports and set-up
  (baseline), after reading the message, and the peak after `accept`. `--trace` also samples
  tracemalloc during `accept` and prints where the peak's bytes were allocated (Python's
  allocations only: SQLite's own buffers show in RSS but not there).
- `--via listener`: the daemon as deployed (`maildesk run`, SMTP listener, its own process)
  while `--senders N` clients deliver a 25 MiB mail each at once; `--body text` (a long log
  pasted into the body, 8-bit UTF-8) or `attachment`. Read from /proc: the daemon's RSS
  before, its peak (VmHWM) and its RSS once the mails are in (does it give memory back?).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import REPO, banner, cleanup, make_app, scratch
from bench.corpus import big_message, big_text_message, generate

MiB = 1024 * 1024
TARGET_MIB = 150.0


def _rss_mib() -> float:
    """Peak RSS of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakSampler(threading.Thread):
    """Snapshots tracemalloc every few ms and keeps the largest: where the peak lives."""

    def __init__(self, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.stop = threading.Event()
        self.best: tracemalloc.Snapshot | None = None
        self.best_size = 0

    def run(self) -> None:
        while not self.stop.is_set():
            current, _ = tracemalloc.get_traced_memory()
            if current > self.best_size:
                self.best_size = current
                self.best = tracemalloc.take_snapshot()
            self.stop.wait(self.every)


def child(path: Path, folder: Path, trace: bool) -> dict[str, Any]:
    """Runs in the fresh process: set up, read, accept, report.

    The baseline loads what a running `maildesk run` (IMAP mode) has loaded, scheduler and
    timers included, so the figure is the daemon's and not a leaner process's.
    """
    import apscheduler.schedulers.background  # noqa: F401

    import maildesk.daemon
    import maildesk.timers  # noqa: F401
    from maildesk.pipeline.accept import accept

    app = make_app(folder, generate(1).registry_toml())
    _ = app.templates  # compiled templates belong to the baseline, not to the message
    out: dict[str, Any] = {"baseline": _rss_mib()}
    raw = path.read_bytes()
    out["size_mib"] = len(raw) / MiB
    out["after_read"] = _rss_mib()
    sampler = None
    if trace:
        tracemalloc.start(8)
        sampler = PeakSampler()
        sampler.start()
    t0 = time.perf_counter()
    outcome = accept(app, raw, "bench:memory")
    out["seconds"] = time.perf_counter() - t0
    out["peak"] = _rss_mib()
    out["outcome"] = f"{outcome.kind.value} ({outcome.reason})"
    if sampler is not None:
        sampler.stop.set()
        sampler.join()
        _, peak = tracemalloc.get_traced_memory()
        out["traced_peak_mib"] = peak / MiB
        if sampler.best is not None:
            stats = sampler.best.statistics("traceback")[:8]
            out["top"] = [
                {
                    "mib": st.size / MiB,
                    "where": [
                        f"{f.filename.replace(str(REPO) + '/', '')}:{f.lineno}"
                        for f in st.traceback[-6:]
                    ],
                }
                for st in stats
            ]
    app.db.dispose()
    return out


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) in MiB and Threads of a process, from /proc (Linux: kB)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
        elif key == "Threads":
            fields[key] = int(value)
    return fields


def proc_rss(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB."""
    status = proc_status(pid)
    return status["VmRSS"], status["VmHWM"]


def smtp_send(port: int, raw: bytes, sender: str, source: str = "127.0.0.1") -> tuple[int, float]:
    """One SMTP transaction; (DATA reply code, seconds). Connection refusals count as codes."""
    import smtplib

    t0 = time.perf_counter()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=600, source_address=(source, 0)) as c:
            c.ehlo()
            c.mail(sender)
            c.rcpt("customerservice@support.example")
            code, _ = c.data(raw)
    except smtplib.SMTPConnectError as exc:
        code = exc.smtp_code
    except (smtplib.SMTPException, OSError):
        code = 0
    return code, time.perf_counter() - t0


def concurrent_mails(port: int, raws: list[bytes], sender: str) -> list[tuple[int, float]]:
    """All of `raws` at once, one client each (from 127.0.0.x: one peer each)."""
    results: list[tuple[int, float]] = [(0, 0.0)] * len(raws)

    def one(i: int) -> None:
        results[i] = smtp_send(port, raws[i], sender, f"127.0.1.{i + 1}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(raws))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


CORPUS_SENDER = "user0@customer0.example"  # registered in the bench corpus's registry


def big_mails(body: str, senders: int, size: int, sender: str = CORPUS_SENDER) -> list[bytes]:
    """`senders` distinct mails of `size` bytes with CRLF line ends (as on the wire)."""
    if body == "text":
        return [big_text_message(size, sender, seed=i) for i in range(senders)]
    mails = []
    for i in range(senders):
        raw = big_message(size * 76 // 77, seed=i).replace(b"\r\n", b"\n")
        raw = raw.replace(b"\n", b"\r\n").replace(CORPUS_SENDER.encode(), sender.encode())
        mails.append(raw.replace(b"<big.1@mail.example>", f"<big.{i}@mail.example>".encode()))
    return mails


def _count_threads(daemon: Any, out: list[float]) -> None:
    """The daemon's thread count, sampled while it runs (for the unit's TasksMax)."""
    while daemon.alive():
        with contextlib.suppress(OSError, KeyError):
            out.append(proc_status(daemon.proc.pid)["Threads"])
        time.sleep(0.1)


def via_listener(body: str, senders: int, size: int, keep: bool) -> dict[str, Any]:
    """The deployed shape: `maildesk run` with the SMTP listener, N big mails at once."""
    from faults.common import environment
    from tests.servers.dovecot import free_port

    raws = big_mails(body, senders, size, "ana@acme.example")  # the faults registry's contact
    port = free_port()
    smtp = {"host": "127.0.0.1", "port": port}
    with environment(
        "memory", imap=False, keep=keep, inbound={"mode": "smtp", "smtp": smtp}
    ) as env:
        daemon = env.start_daemon()
        baseline, _ = proc_rss(daemon.proc.pid)
        t0 = time.perf_counter()
        threads: list[float] = []
        watch = threading.Thread(target=_count_threads, args=(daemon, threads), daemon=True)
        watch.start()
        results = concurrent_mails(port, raws, "ana@acme.example")
        seconds = time.perf_counter() - t0
        time.sleep(2)  # the sender and the allocator settle
        after, peak = proc_rss(daemon.proc.pid)
        daemon.term()
        watch.join()
    return {
        "baseline": baseline,
        "peak": peak,
        "after": after,
        "seconds": seconds,
        "codes": [code for code, _ in results],
        "threads": max(threads, default=0),
        "size_mib": len(raws[0]) / MiB,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__)
    p.add_argument("--mib", type=float, default=25.0, help="message size limit in MiB")
    p.add_argument("--via", choices=("accept", "listener"), default="accept")
    p.add_argument("--body", choices=("attachment", "text"), default="attachment")
    p.add_argument("--senders", type=int, default=1, help="listener: mails sent at once")
    p.add_argument("--trace", action="store_true", help="tracemalloc: where the peak goes")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--child", nargs=2, metavar=("MESSAGE", "FOLDER"), help=argparse.SUPPRESS)
    p.add_argument("--make", nargs=2, metavar=("MESSAGE", "BYTES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.make:
        Path(args.make[0]).write_bytes(big_mails(args.body, 1, int(args.make[1]))[0])
        return 0
    if args.child:
        result = child(Path(args.child[0]), Path(args.child[1]), args.trace)
        print(json.dumps(result))
        return 0

    size = int(args.mib * MiB) - 16 * 1024  # just under limits.max_message_bytes
    if args.via == "listener":
        return _report_listener(args.body, args.senders, size, args.keep)
    banner(f"memory: one {size / MiB:.2f} MiB message through accept()")
    folder = scratch("memory-")
    try:
        message = folder / "big.eml"
        # Built in its own process: Linux carries the peak RSS of a parent across fork+exec,
        # and building a 25 MiB EmailMessage costs several copies.
        make = [sys.executable, "-m", "bench.memory", "--make", str(message), str(size)]
        make += ["--body", args.body]
        subprocess.run(make, cwd=REPO, check=True)
        cmd = [sys.executable, "-m", "bench.memory", "--child", str(message), str(folder)]
        cmd += ["--trace"] * args.trace
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-6000:])
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        cleanup(folder, args.keep)
    print(f"   message {r['size_mib']:.2f} MiB, accept took {r['seconds']:.2f} s -> {r['outcome']}")
    print(
        f"   peak RSS: baseline {r['baseline']:.1f} MiB, after reading {r['after_read']:.1f} MiB,"
        f" after accept {r['peak']:.1f} MiB (+{r['peak'] - r['after_read']:.1f} MiB"
        f" = {(r['peak'] - r['after_read']) / r['size_mib']:.1f}x the message)"
    )
    verdict = "meets" if r["peak"] < TARGET_MIB else "MISSES"
    print(f"   {verdict} the < {TARGET_MIB:.0f} MiB target")
    if "top" in r:
        print(f"   tracemalloc peak {r['traced_peak_mib']:.1f} MiB; largest blocks at the peak:")
        for st in r["top"]:
            print(f"   {st['mib']:7.1f} MiB  " + " <- ".join(reversed(st["where"])))
    return 0


def _report_listener(body: str, senders: int, size: int, keep: bool) -> int:
    banner(f"memory: {senders} x {size / MiB:.2f} MiB ({body}) at once through the SMTP listener")
    r = via_listener(body, senders, size, keep)
    codes = " ".join(str(c) for c in r["codes"])
    print(
        f"   {senders} mail(s) of {r['size_mib']:.2f} MiB in {r['seconds']:.1f} s, replies: {codes}"
    )
    print(
        f"   daemon RSS: before {r['baseline']:.1f} MiB, peak {r['peak']:.1f} MiB"
        f" (+{r['peak'] - r['baseline']:.1f}), after {r['after']:.1f} MiB;"
        f" at most {r['threads']:.0f} threads"
    )
    verdict = "meets" if r["peak"] < TARGET_MIB else "MISSES"
    print(f"   {verdict} the < {TARGET_MIB:.0f} MiB target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
