"""The loop guards every automatic mail passes (one place for the one-mail path,
`notices.queue_mail`, and the bulk path, `bulk.BulkMail`): bounce suppression (R2), the
per-sender rate of rejection notices (R5) and the per-recipient daily cap.

A guard that stops a mail leaves a `notice_suppressed` event (`suppressed_event`), never
silence.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from maildesk.store.models import Contact, Outbox

if TYPE_CHECKING:
    from maildesk.app import App

# Notices answering mail that opened no ticket: the ones an attacker could use to make us
# spam a forged sender, so they get the tight hourly limit (R5).
REJECTION_NOTICES = frozenset({"rejected_unregistered", "contract_expired", "too_large"})


_DAY: BindParameter[datetime] = bindparam("day_ago")
_HOUR: BindParameter[datetime] = bindparam("hour_ago")
_RECENT = (Outbox.to_addr == bindparam("to"), Outbox.created_at > _DAY)
# Built once: constructing this statement cost more than running it.
_GUARD = select(
    select(Contact.suppressed_until).where(Contact.email == bindparam("to")).scalar_subquery(),
    select(func.count(Outbox.id)).where(*_RECENT, Outbox.automatic.is_(True)).scalar_subquery(),
    select(func.count(Outbox.id))
    .where(*_RECENT, Outbox.template.in_(REJECTION_NOTICES), Outbox.created_at > _HOUR)
    .scalar_subquery(),
)


def guard_windows(now: datetime) -> tuple[datetime, datetime]:
    """Since when the loop guards count: the daily cap a day back, the rejection-notice
    rate (R5) an hour back. One definition for the one-mail and the bulk paths."""
    return now - timedelta(days=1), now - timedelta(hours=1)


def blocked(s: Session, app: App, to: str, template: str, now: datetime) -> str | None:
    """Why an automatic mail to `to` must not go out now, or None (one round trip; through
    the session, so a suppression still pending in the unit of work counts)."""
    day_ago, hour_ago = guard_windows(now)
    params = {"to": to, "day_ago": day_ago, "hour_ago": hour_ago}
    suppressed, day, hour = s.execute(_GUARD, params).one()
    return guard_reason(app, template, now, Guard(suppressed, day, hour))


@dataclass
class Guard:
    """What the loop guards know of one recipient: bounce suppression, automatic mails in
    the last day, rejection notices in the last hour (counts include mail queued since)."""

    suppressed_until: datetime | None = None
    day: int = 0
    hour: int = 0

    def count(self, template: str) -> None:
        """One more automatic mail queued to this recipient."""
        self.day += 1
        if template in REJECTION_NOTICES:
            self.hour += 1


def guard_reason(app: App, template: str, now: datetime, g: Guard) -> str | None:
    """The loop rules (R2, R5, daily cap), one place for the one-mail and the bulk paths."""
    limits = app.cfg.limits
    if g.suppressed_until is not None and g.suppressed_until > now:
        return "recipient suppressed after a permanent bounce"
    if g.day >= limits.auto_mails_per_recipient_per_day:
        return "daily cap of automatic mail to this address reached"
    if template in REJECTION_NOTICES and g.hour >= limits.notices_per_sender_per_hour:
        return "notice rate limit for this sender reached"
    return None


def suppressed_event(
    number: int | None, to: str, template: str, why: str, now: datetime
) -> dict[str, Any]:
    """The `notice_suppressed` event's row: which mail a loop guard stopped, and why."""
    return {
        "ticket_number": number,
        "contact_id": None,
        "at": now,
        "kind": "notice_suppressed",
        "actor": "system",
        "detail": {"template": template, "to": to, "reason": why},
    }
