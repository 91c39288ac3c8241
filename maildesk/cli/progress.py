"""Progress of long work (a timer sweep over many tickets, a big registry import or replay)
on the operator's terminal; silent anywhere else.

Under systemd, cron or a pipe stderr is not a terminal and the journal must not fill with
carriage-return lines, so nothing is written there. On a terminal one line is redrawn at
most ten times a second and erased at the end, leaving the command's own output clean.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from maildesk.cli.output import is_terminal

#: Below this many items the work takes well under a second: no progress line at all.
MIN_ITEMS = 200
REDRAW_SECONDS = 0.1


class Progress:
    """`with Progress("importing") as p: p.update(done, total)`; a no-op off a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.active = is_terminal(self.stream)
        self._drawn = 0.0
        self._shown = False

    def update(self, done: int, total: int, what: str = "") -> None:
        if not self.active or total < MIN_ITEMS:
            return
        now = time.monotonic()
        if done < total and now - self._drawn < REDRAW_SECONDS:
            return
        self._drawn = now
        pct = 100 * done // total if total else 100
        head = f"{self.label} {what}".strip()
        self.stream.write(f"\r\033[K{head}: {done}/{total} ({pct} %)")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the line (before the command prints its own output); idempotent."""
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.clear()
