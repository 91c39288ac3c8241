"""The supervisors' digest: the report's summary by mail, on the schedule `[report] digest`
(a cron expression in the support timezone, run by the daemon's scheduler).

One mail per supervisor, queued in the outbox like every other mail: multipart/alternative
with the plain-text summary and the HTML page, whose charts are PNG parts of a
multipart/related referenced by `cid:` (mail readers block remote images and many do not
show SVG). Without matplotlib the mail has the text and the tables, no images.

Several daemons on one database: the digest of one scheduled time is queued once (a row in
`settings` records the last one, taken under a lock in the same transaction).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from maildesk.outbound.compose import one_line
from maildesk.outbound.notices import support_context
from maildesk.report import charts, render
from maildesk.report.charts import Chart
from maildesk.report.data import ReportData, gather
from maildesk.store.models import Outbox, Setting

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.report")

LAST_SENT = "digest_last_scheduled_at"  # settings key: the scheduled time last queued
#: How late after its scheduled time a run still counts as that schedule's (APScheduler
#: runs a job within a second or two; a sweep may hold the pool for a while).
LATENESS = timedelta(minutes=15)


def trigger(app: App) -> CronTrigger | None:
    """The digest's schedule, or None when `[report] digest` is empty."""
    expr = app.cfg.report.digest
    return CronTrigger.from_crontab(expr, timezone=app.calendar.tz) if expr else None


def scheduled_time(app: App, now: datetime) -> datetime:
    """The scheduled time a run at `now` belongs to (the latest fire time up to `now`)."""
    cron = trigger(app)
    if cron is not None:
        fire = cron.get_next_fire_time(None, now - LATENESS)
        if fire is not None and fire <= now:
            return fire
    return now.replace(second=0, microsecond=0)


def compose_digest(
    app: App, data: ReportData, drawn: list[Chart], to: str, now: datetime
) -> tuple[str, bytes]:
    """(Message-ID, bytes) of one supervisor's digest."""
    lang = app.cfg.support.language
    support = support_context(app)
    words = render.WORDS[lang]
    message_id = app.new_message_id(None)
    cids = {c.name: f"{c.name}.{secrets.token_hex(6)}@{app.cfg.support_domain}" for c in drawn}
    msg = EmailMessage()
    msg["From"] = formataddr((support["team_name"], app.cfg.support.address))
    msg["To"] = one_line(to)
    subject = f"[{app.cfg.support.subject_prefix}] {words['subject']}: "
    msg["Subject"] = subject + render.period_text(data, lang)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}>"
    msg["X-Loop"] = app.cfg.support.address
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "bulk"
    # quoted-printable: lines stay within SMTP's limits whatever the page's lines are
    msg.set_content(render.text(data, lang), cte="quoted-printable")
    page = render.html(data, drawn, lang, src=lambda c: f"cid:{cids[c.name]}")
    msg.add_alternative(page, subtype="html", cte="quoted-printable")
    html_part = msg.get_body(("html",))
    assert isinstance(html_part, EmailMessage)  # the alternative just added
    for chart in drawn:
        html_part.add_related(
            chart.png, "image", "png", cid=f"<{cids[chart.name]}>", filename=f"{chart.name}.png"
        )
    return message_id, msg.as_bytes(policy=SMTP)


def queue_digest(app: App, now: datetime) -> int:
    """Queue this schedule's digest for every supervisor, once across all daemons; returns
    how many mails were queued (0: already done, or nobody to send it to)."""
    supervisors = app.cfg.escalation.supervisors
    if not supervisors:
        log.warning("digest: no escalation.supervisors configured; nothing sent")
        return 0
    slot = scheduled_time(app, now)
    weeks = app.cfg.report.digest_weeks
    data = gather(app, now - timedelta(weeks=weeks), now)
    drawn = charts.draw(data, render.WORDS[app.cfg.support.language])
    mails = [(to.lower(), *compose_digest(app, data, drawn, to, now)) for to in supervisors]
    try:
        with app.db.transaction() as s:
            q = select(Setting).where(Setting.key == LAST_SENT)
            if app.db.dialect == "postgresql":
                q = q.with_for_update()
            row = s.scalar(q)
            if row is not None and datetime.fromisoformat(row.value) >= slot:
                return 0
            if row is None:
                row = Setting(key=LAST_SENT, value="")
                s.add(row)
            row.value = slot.isoformat()
            for to, message_id, raw in mails:
                s.add(
                    Outbox(
                        created_at=now, due_at=now, ticket_number=None, template="digest",
                        automatic=True, to_addr=to, message_id=message_id, raw=raw,
                    )
                )  # fmt: skip
    except IntegrityError:  # another daemon inserted the settings row first: theirs stands
        return 0
    log.info(
        "digest for %s queued to %d supervisor(s)%s",
        render.period_text(data, app.cfg.support.language),
        len(mails),
        "" if drawn else f" without charts ({charts.MISSING})",
    )
    return len(mails)
