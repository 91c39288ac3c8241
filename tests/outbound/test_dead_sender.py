"""A sender killed with kill -9 mid-send (issue 10 finding 7), on SQLite and PostgreSQL.

A real `maildesk outbox flush` process delivers to a real aiosmtpd server that takes the
third mail and then never answers; the process is killed there. Another sender must then
deliver everything left at once (its claims died with it: no five-minute lease), and the
only mail delivered twice may be the one that was in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.outbound.sender import flush
from maildesk.store.models import Outbox
from tests.helpers import NOW
from tests.servers.daemon import write_config
from tests.servers.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = "customerservice@support.example"


class HangingSink(SmtpSink):
    """Accepts every mail; after storing the `hang_on`-th it does not answer until released,
    as a server does that dies (or a network that breaks) before its 250."""

    def __init__(self, hang_on: int) -> None:
        super().__init__()
        self.hang_on = hang_on
        self.hanging = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        status = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == self.hang_on and not self.hanging.is_set():
            self.hanging.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return status

    def message_ids(self) -> list[str]:
        return [m.message["Message-ID"].strip("<>") for m in self.messages]


@pytest.fixture
def sink() -> Iterator[HangingSink]:
    s = HangingSink(hang_on=3)
    s.start()
    try:
        yield s
    finally:
        s.release.set()
        s.stop()


def _queue(app: App, n: int) -> None:
    with app.db.transaction() as s:
        for i in range(n):
            m = EmailMessage()
            m["From"], m["To"] = SUPPORT, f"cliente{i}@acme.example"
            m["Subject"], m["Date"] = f"Acuse {i}", format_datetime(NOW)
            m["Message-ID"] = mid = make_msgid(domain="support.example")
            m.set_content(f"acuse {i}\n")
            s.add(
                Outbox(
                    created_at=NOW,
                    due_at=NOW,
                    template="acknowledgement",
                    to_addr=f"cliente{i}@acme.example",
                    message_id=mid.strip("<>"),
                    raw=m.as_bytes(),
                    state="pending",
                    attempts=0,
                )
            )


def _flush_process(tmp_path: Path, db_url: str, port: int) -> subprocess.Popen[bytes]:
    config = write_config(
        tmp_path / "sender.toml",
        {
            "support": {"address": SUPPORT},
            "database": {"url": db_url},
            "inbound": {"mode": "none"},
            "outbound": {"mode": "smtp", "host": "127.0.0.1", "port": port, "starttls": False},
        },
    )
    env = {k: v for k, v in os.environ.items() if k != "MAILDESK_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "maildesk", "--config", str(config), "outbox", "flush"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_i10_dead_sender_frees_its_mail_at_once_and_resends_only_the_one_in_flight(
    make_app: Callable[..., App], sink: HangingSink, db_url: str, tmp_path: Path
) -> None:
    smtp = {"mode": "smtp", "host": "127.0.0.1", "port": sink.port, "starttls": False}
    app = make_app(outbound=smtp)
    _queue(app, 10)
    proc = _flush_process(tmp_path, db_url, sink.port)
    try:
        assert sink.hanging.wait(60), "the sender never reached the third mail"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    killed = time.monotonic()
    sink.release.set()

    report = flush(app)  # another sender, right away: nothing may wait for a lease
    taken_over = time.monotonic() - killed
    print(f"\n  after kill -9: the next sender delivered {report.sent} in {taken_over:.2f} s")

    with app.db.transaction() as s:
        rows = list(s.scalars(select(Outbox)))
    assert {r.state for r in rows} == {"sent"}
    delivered = Counter(sink.message_ids())
    assert set(delivered) == {r.message_id for r in rows}  # every mail arrived...
    twice = [mid for mid, n in delivered.items() if n > 1]
    assert len(twice) <= 1  # ...and only the mail in flight may have arrived twice
    assert report.sent == 10 - 2  # the two recorded before the kill are not sent again
