"""Log lines for people and for log shippers: one record, one prefix on every line.

Plain text by default (`2026-12-01 12:00:00 INFO maildesk.daemon: ...`); under systemd the
journal stamps the time and host itself, so the prefix is the syslog priority (`<3>`, which
journald turns into the entry's priority: `journalctl -p err` works) and the logger name.
A record that spans lines (a traceback, a multi-line error) carries the prefix on each line,
so `grep` and `journalctl -g` never find a line whose origin is unknown.
`[logging] format = "json"`: one JSON object per record and line, for log shippers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

#: syslog priorities (RFC 5424) of Python's levels, for the journal's `<N>` line prefix.
_SYSLOG = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
FORMATS = ("text", "json")

_handler: logging.Handler | None = None


def under_journald(stream: IO[str] | None = None) -> bool:
    """True when `stream` (stderr) is connected to the journal (systemd sets JOURNAL_STREAM
    to the device:inode of the stream it hands the service)."""
    want = os.environ.get("JOURNAL_STREAM", "")
    if not want:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return want == f"{st.st_dev}:{st.st_ino}"


class LineFormatter(logging.Formatter):
    """Text: the same prefix on every line of a record (message and traceback)."""

    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def prefix(self, record: logging.LogRecord) -> str:
        if self.journal:
            return f"<{_SYSLOG.get(record.levelno, 6)}>{record.levelname} {record.name}: "
        stamp = datetime.fromtimestamp(record.created).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return f"{stamp} {record.levelname} {record.name}: "

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        head = self.prefix(record)
        return "\n".join(head + line for line in text.splitlines() or [""])


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message[, error]."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test's capture, swapped per test,
    would otherwise be written to after it was closed)."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


def setup(level: int, fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """Install maildesk's one handler on the root logger (replacing an earlier one)."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    _handler.setFormatter(formatter(fmt, stream))
    root.addHandler(_handler)
    root.setLevel(level)
    # Libraries that talk at INFO about their own plumbing (Alembic's "Context impl
    # SQLiteImpl", APScheduler's line per run, aiosmtpd's SMTP trace with client addresses,
    # matplotlib's font cache):
    # their warnings still show, the rest with -v.
    for name in ("alembic", "apscheduler", "mail.log", "matplotlib"):
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    return _handler


def formatter(fmt: str, stream: IO[str] | None = None) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    return LineFormatter(journal=under_journald(stream))


def apply(fmt: str, level: str | None = None) -> None:
    """Switch the installed handler to the configured format (and level), e.g. once the
    daemon has read its config; does nothing when `setup` was not called (library use)."""
    if _handler is None:
        return
    _handler.setFormatter(formatter(fmt, getattr(_handler, "stream", None)))
    if level is not None:
        logging.getLogger().setLevel(LEVELS[level])
