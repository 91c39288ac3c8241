"""A robot customer answers every mail it gets, for minutes (SPEC R5, loop guards).

The robot is a registered contact behind the daemon's outbound SMTP server. Every mail the
daemon sends it is answered, after `delay` seconds, through the daemon's own SMTP listener.
Worst case by default: the reply strips every automatic marker (no Auto-Submitted,
Precedence, X-Autoreply...) and the thread too (fresh subject without the ticket tag, no
In-Reply-To/References), so each reply opens a new ticket that would be acknowledged.
Only `limits.auto_mails_per_recipient_per_day` stops the ping-pong: the mail the daemon
sends the robot must stay within it, however long the robot keeps going.
"""

from __future__ import annotations

import queue
import re
import smtplib
import threading
import time
from email import message_from_bytes
from email.utils import make_msgid
from typing import Any

from sqlalchemy import func, select

from faults.common import (
    Batch,
    Result,
    SmtpSink,
    environment,
    make_mail,
    norm_mid,
    received_for,
    tally,
    wait_until,
)
from maildesk.store.models import Event
from tests.helpers import CUSTOMER, SUPPORT
from tests.servers.dovecot import free_port

TAG = re.compile(r"\[[^\]]*#\d+\]\s*")


class RobotSink(SmtpSink):
    """An SMTP sink that answers every mail addressed to `robot` (other mail is just kept)."""

    def __init__(self, robot: str, delay: float, keep_thread: bool) -> None:
        super().__init__()
        self.robot = robot
        self.delay = delay
        self.keep_thread = keep_thread
        self.listener: tuple[str, int] = ("127.0.0.1", 0)
        self.sent = Batch()  # the robot's own mails, as the daemon must see each once
        self.send_errors: list[str] = []
        self._todo: queue.Queue[bytes | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.robot in envelope.rcpt_tos:
            self._todo.put(bytes(envelope.original_content or envelope.content))
        return reply

    def begin(self, listener: tuple[str, int]) -> None:
        """Send the first mail and answer from now on."""
        self.listener = listener
        self._worker = threading.Thread(target=self._answer_loop, name="robot", daemon=True)
        self._worker.start()
        self._send(make_mail(sender=self.robot, subject="hola", message_id=self._mid()))

    def end(self) -> None:
        self._todo.put(None)
        if self._worker is not None:
            self._worker.join(30)

    def _mid(self) -> str:
        mid = make_msgid(domain="acme.example")
        self.sent.new.append(mid)
        return mid

    def _answer_loop(self) -> None:
        while True:
            raw = self._todo.get()
            if raw is None:
                return
            time.sleep(self.delay)
            ours = message_from_bytes(raw)
            subject = str(ours["Subject"] or "")
            if self.keep_thread:
                mail = make_mail(
                    sender=self.robot,
                    subject=f"Re: {subject}",
                    body="Recibí su correo.\n",
                    message_id=self._mid(),
                    in_reply_to=str(ours["Message-ID"]),
                )
            else:
                mail = make_mail(
                    sender=self.robot,
                    subject=f"Re: {TAG.sub('', subject)} ({len(self.sent.new)})",
                    body="Recibí su correo.\n",
                    message_id=self._mid(),
                )
            self._send(mail)

    def _send(self, raw: bytes) -> None:
        try:
            with smtplib.SMTP(*self.listener, timeout=30) as s:
                s.sendmail(self.robot, [SUPPORT], raw)
        except (smtplib.SMTPException, OSError) as exc:
            self.send_errors.append(f"{type(exc).__name__}: {exc}")


def run(
    seconds: float = 300.0,
    cap: int = 40,
    delay: float = 0.2,
    keep_thread: bool = False,
    db: str = "sqlite",
    keep: bool = False,
    say: bool = True,
) -> Result:
    """The robot scenario: ping-pong for `seconds`; mail to the robot must stay <= cap."""
    t0 = time.monotonic()
    robot = RobotSink(CUSTOMER, delay, keep_thread)
    port = free_port()
    extra: list[str] = []
    with environment(
        "robot",
        db,
        imap=False,
        sink=robot,
        keep=keep,
        inbound={"mode": "smtp", "smtp": {"host": "127.0.0.1", "port": port}},
        limits={"auto_mails_per_recipient_per_day": cap},
    ) as env:
        d = env.start_daemon()
        try:
            robot.begin(("127.0.0.1", port))
            end = time.monotonic() + seconds
            last = -1
            while time.monotonic() < end:
                n = len(received_for(robot, CUSTOMER))
                if say and n != last and (n % 10 == 0 or n == cap):
                    print(f"  {time.monotonic() - t0:5.0f}s: {n} mails sent to the robot")
                last = n
                if not d.alive():
                    raise RuntimeError(f"daemon died:\n{d.log()[-3000:]}")
                time.sleep(0.5)
        finally:
            robot.end()
        wait_until(lambda: env.outbox_due() == 0, 60, "the outbox to drain", 0.2)
        time.sleep(1.0)
        rc, _ = d.term()
        to_robot = received_for(robot, CUSTOMER)
        t = tally(env, robot.sent)
        acked = {norm_mid(str(m.message["In-Reply-To"] or "")) for m in to_robot}
        t.missing_acks = 0  # past the cap, silence is the point
        suppressed = env.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "notice_suppressed")
        )
        extra.append(
            f"mails sent to the robot: {len(to_robot)} (bound: auto_mails_per_recipient_per_day"
            f" = {cap}) over {seconds:g}s; robot sent {len(robot.sent.new)},"
            f" {len(acked)} of them answered; {suppressed} automatic mail(s) suppressed;"
            f" thread {'kept' if keep_thread else 'stripped'}; daemon exit {rc}"
        )
        if robot.send_errors:
            extra.append(f"robot send errors: {robot.send_errors[:3]}")
        passed = t.ok and len(to_robot) <= cap and rc == 0 and not robot.send_errors
    res = Result("robot", db, 1, len(robot.sent.new), t, time.monotonic() - t0, extra)
    res.passed = passed
    return res
