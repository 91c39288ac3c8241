"""A robot that answers every mail it gets — stripping every automatic-mail marker, the
worst case — stays bounded by the notice rate (R5) and the per-recipient daily cap."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes

from maildesk.app import App
from maildesk.pipeline.accept import accept
from tests.helpers import NOW, make_mail, outbox


def _robot_run(app: App, robot: str, rounds: int, keep_thread: bool) -> int:
    """Play ping-pong for `rounds` minutes; returns how many mails maildesk sent the robot."""
    accept(app, make_mail(sender=robot, subject="hello"), "robot", NOW)
    answered: set[int] = set()
    for minute in range(1, rounds + 1):
        mine = [r for r in outbox(app, to=robot) if r.id not in answered]
        for row in mine:
            answered.add(row.id)
            ours = message_from_bytes(row.raw)
            subject = f"Re: {ours['Subject']}" if keep_thread else f"Re: hello {minute}"
            reply = make_mail(
                sender=robot,
                subject=subject,
                body="I got your mail.\n",
                in_reply_to=ours["Message-ID"] if keep_thread else None,
            )
            accept(app, reply, "robot", NOW + timedelta(minutes=minute))
        if not mine and keep_thread:
            break
    return len(outbox(app, to=robot))


def test_r5_unregistered_robot_gets_at_most_the_hourly_notices(app: App) -> None:
    assert _robot_run(app, "robot@spam.example", rounds=50, keep_thread=True) == 3


def test_r5_registered_robot_opening_topics_bounded_by_daily_cap(app: App) -> None:
    sent = _robot_run(app, "ana@acme.example", rounds=120, keep_thread=False)
    assert sent == app.cfg.limits.auto_mails_per_recipient_per_day  # 40, not 120


def test_r7_registered_robot_replying_in_thread_stops_at_once(app: App) -> None:
    assert _robot_run(app, "ana@acme.example", rounds=20, keep_thread=True) == 1  # the ack
