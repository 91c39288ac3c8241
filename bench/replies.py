"""Reply stripping accuracy: `python -m bench replies [DIR ...] [--show]`.

A fixture is a pair in one folder: `NAME.txt`, the decoded body of a reply as the parser hands
it to `strip_quotes`, and `NAME.expected`, the visible reply (what the customer wrote now).
Without a folder the repo's own set, tests/corpus/replies/, is measured; any folder in that
shape works, so public reply-parser suites can be measured the same way (kept outside the
repo). Each fixture is one of:

- exact: the output equals the expected reply (trailing spaces and runs of blank lines
  ignored: mail clients differ in those, readers do not);
- lost: a line of the expected reply is missing from the output: the customer's own words
  were dropped, the one failure that must never happen;
- kept history: every expected line is there, plus some of the quoted history or signature.

Prints the counts, the failing names (with a diff under --show) and the time per fixture.
"""

from __future__ import annotations

import argparse
import difflib
import re
import time
from collections import Counter
from pathlib import Path

from maildesk.mail.quotes import strip_quotes

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "replies"
_BLANKS = re.compile(r"\n{3,}")


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")


def judge(output: str, expected: str) -> str:
    """ "exact", "lost" or "kept history" (see the module docstring)."""
    got, want = normalise(output), normalise(expected)
    if got == want:
        return "exact"
    have = Counter(line.strip() for line in got.split("\n"))
    need = Counter(line.strip() for line in want.split("\n") if line.strip())
    return "lost" if need - have else "kept history"


def fixtures(folders: list[Path]) -> list[tuple[str, str, str]]:
    out = []
    for folder in folders:
        for path in sorted(folder.glob("*.txt")):
            expected = path.with_suffix(".expected")
            if expected.exists():
                name = f"{folder.name}/{path.stem}"
                out.append((name, path.read_text("utf-8"), expected.read_text("utf-8")))
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench replies", description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="*", type=Path, help=f"fixture folders (default {DEFAULT})")
    ap.add_argument("--show", action="store_true", help="print a diff for every failure")
    args = ap.parse_args(argv)
    cases = fixtures(args.folders or [DEFAULT])
    if not cases:
        print("no fixtures (NAME.txt + NAME.expected) in the given folders")
        return 2
    verdicts: dict[str, list[str]] = {"exact": [], "kept history": [], "lost": []}
    start = time.perf_counter()
    for name, text, expected in cases:
        output = strip_quotes(text)
        verdict = judge(output, expected)
        verdicts[verdict].append(name)
        if args.show and verdict != "exact":
            diff = difflib.unified_diff(
                normalise(expected).split("\n"), normalise(output).split("\n"), lineterm=""
            )
            print(f"--- {name}: {verdict}\n" + "\n".join(list(diff)[2:]) + "\n")
    elapsed = time.perf_counter() - start
    n = len(cases)
    exact = len(verdicts["exact"])
    print(f"replies: {n} fixtures from {', '.join(str(f) for f in args.folders or [DEFAULT])}")
    print(f"   exact         {exact:4d}  {100 * exact / n:5.1f} %")
    for verdict in ("kept history", "lost"):
        names = verdicts[verdict]
        print(f"   {verdict:13s} {len(names):4d}  {100 * len(names) / n:5.1f} %  {' '.join(names)}")
    print(f"   {1000 * elapsed / n:.3f} ms a fixture")
    return 0
