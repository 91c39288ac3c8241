"""pytest fixtures for the real test servers (loaded via pytest_plugins)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maildesk.daemon import Daemon
from tests.servers.daemon import DaemonProcess
from tests.servers.dovecot import Dovecot, dovecot_available
from tests.servers.smtp_sink import SmtpSink


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh, empty Dovecot per test; skipped loudly when dovecot-imapd is absent."""
    if not dovecot_available():
        pytest.skip("dovecot-imapd not installed: IMAP tests SKIPPED")
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An accepting SMTP sink on a free loopback port."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def strict_smtp_sink() -> Iterator[SmtpSink]:
    """A sink that refuses any line over 998 octets, as strict production servers do."""
    sink = SmtpSink()
    sink.strict = True
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """In-process daemons; always stopped at the end."""
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


@pytest.fixture
def processes() -> Iterator[list[DaemonProcess]]:
    procs: list[DaemonProcess] = []
    yield procs
    for p in procs:
        p.close()
