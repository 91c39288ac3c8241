"""Issue 11: long work shows progress on a terminal and stays quiet anywhere else."""

from __future__ import annotations

import io
import os
import pty
from collections.abc import Callable
from typing import TextIO

from maildesk.cli.progress import MIN_ITEMS, Progress


def _on_a_terminal(work: Callable[[TextIO], None]) -> str:
    """What `work` writes to a real pseudo-terminal."""
    leader, follower = pty.openpty()
    try:
        with open(follower, "w", encoding="utf-8", closefd=False) as tty:
            work(tty)
        os.set_blocking(leader, False)
        chunks = []
        while True:
            try:
                chunks.append(os.read(leader, 65536))
            except BlockingIOError:
                break
        return b"".join(chunks).decode()
    finally:
        os.close(leader)
        os.close(follower)


def _count(tty: TextIO, total: int) -> None:
    with Progress("importing", tty) as p:
        for done in range(1, total + 1):
            p.update(done, total)


def test_progress_is_drawn_on_a_terminal_and_erased_at_the_end() -> None:
    shown = _on_a_terminal(lambda tty: _count(tty, 1000))
    assert "importing: 1000/1000 (100 %)" in shown
    assert shown.endswith("\r\x1b[K")  # the line is cleared: the command's output stays clean


def test_progress_is_silent_off_a_terminal_and_for_small_work() -> None:
    piped = io.StringIO()
    _count(piped, 5000)
    assert piped.getvalue() == ""
    assert _on_a_terminal(lambda tty: _count(tty, MIN_ITEMS - 1)) == ""
