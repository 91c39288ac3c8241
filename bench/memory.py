"""Memory (SPEC §9): peak RSS while `accept` ingests one 25 MiB message (one big attachment).

Measured in a fresh subprocess so nothing else has raised the high-water mark: RSS after
imports and set-up (baseline), after reading the message, and the peak after `accept`.
`--trace` also samples tracemalloc during `accept` and prints where the peak's bytes were
allocated, to show which copies make up the difference (Python's allocations only: SQLite's
own buffers, e.g. for a bound blob parameter, show in RSS but not there).
"""

from __future__ import annotations

import argparse
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
from bench.corpus import big_message, generate

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__)
    p.add_argument("--mib", type=float, default=25.0, help="message size limit in MiB")
    p.add_argument("--trace", action="store_true", help="tracemalloc: where the peak goes")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--child", nargs=2, metavar=("MESSAGE", "FOLDER"), help=argparse.SUPPRESS)
    p.add_argument("--make", nargs=2, metavar=("MESSAGE", "BYTES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.make:
        Path(args.make[0]).write_bytes(big_message(int(args.make[1])))
        return 0
    if args.child:
        result = child(Path(args.child[0]), Path(args.child[1]), args.trace)
        print(json.dumps(result))
        return 0

    size = int(args.mib * MiB) - 16 * 1024  # just under limits.max_message_bytes
    banner(f"memory: one {size / MiB:.2f} MiB message through accept()")
    folder = scratch("memory-")
    try:
        message = folder / "big.eml"
        # Built in its own process: Linux carries the peak RSS of a parent across fork+exec,
        # and building a 25 MiB EmailMessage costs several copies.
        make = [sys.executable, "-m", "bench.memory", "--make", str(message), str(size)]
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


if __name__ == "__main__":
    sys.exit(main())
