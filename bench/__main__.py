"""`python -m bench [ingest|latency|sweep|memory|replies|all] [options]`: each prints its figures.

Benchmarks, not tests: nothing here asserts a time; each bench measures maildesk and its
yardstick side by side in one run and prints the ratio. `all` runs them at default sizes
(no options); options after a bench's name go to it (`python -m bench ingest --help`).
"""

from __future__ import annotations

import importlib
import sys

BENCHES = ("ingest", "latency", "sweep", "flush", "memory", "replies")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        from bench.common import machine

        if rest:
            print("`all` runs every bench at its default sizes and takes no options")
            return 2

        print(f"machine: {machine()}")
        rc = 0
        for bench in BENCHES:
            rc |= importlib.import_module(f"bench.{bench}").main([])
            print()
        return rc
    if name not in BENCHES:
        print(f"unknown bench {name!r}; choose from {', '.join(BENCHES)} or all", file=sys.stderr)
        return 2
    return int(importlib.import_module(f"bench.{name}").main(rest))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
