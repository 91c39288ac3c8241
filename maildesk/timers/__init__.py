"""Policy timers T1–T5 (SPEC §5), run by the daemon's scheduler and `maildesk timers run`.

Every timer is a query over stored timestamps plus an idempotent action, so running twice at
one instant changes nothing the second time and a daemon that was down catches up once.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from maildesk.outbound.sender import flush
from maildesk.timers.feature import FEATURE_REMINDER
from maildesk.timers.lifecycle import ABANDON, CLOSE_AFTER_WINDOW
from maildesk.timers.sla import SLA_BREACH, SLA_WARNING
from maildesk.timers.sweep import (
    Action,
    ProgressFn,
    Timer,
    TimerReport,
    Units,
    local,
    sweep,
)

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["TIMERS", "Action", "TimerReport", "run_timers", "summary"]

#: Order matters: T2 resolves before T4 looks at open tickets; a breach supersedes a warning.
TIMERS: tuple[Timer, ...] = (
    CLOSE_AFTER_WINDOW,  # T1
    ABANDON,  # T2
    FEATURE_REMINDER,  # T3
    SLA_BREACH,  # T4
    SLA_WARNING,  # T4
)


def run_timers(
    app: App, now: datetime, dry_run: bool = False, *, progress: ProgressFn | None = None
) -> TimerReport:
    """Run T1–T4 as of `now`, then flush the outbox (T5). A dry run writes nothing at all:
    the same work runs in transactions that are rolled back, and T5 is skipped.
    `progress` hears of each batch of a long sweep."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("run_timers needs an aware datetime")
    _ = app.secret  # loaded outside the units of work (it may have to be created)
    report = TimerReport(now=now, dry_run=dry_run)
    units = Units(app, dry_run)
    try:
        for timer in TIMERS:
            sweep(units, timer, now, report, progress)
    finally:
        units.close()
    if not dry_run:
        report.flush = flush(app, now)
    return report


def summary(app: App, report: TimerReport) -> str:
    """One line for operators and logs."""
    parts = [
        f"{report.count('close')} closed (T1)",
        f"{report.count('abandon')} abandoned (T2)",
        f"{report.count('remind')} feature reminders and {report.count('overdue')} past the "
        "deadline to the supervisors (T3)",
        f"{report.count('warn')} SLA warnings and {report.count('escalate')} escalations (T4)",
    ]
    if report.flush is not None:
        f = report.flush
        parts.append(f"outbox sent {f.sent}, retry later {f.retried}, failed {f.failed} (T5)")
    if report.errors:
        parts.append(f"{len(report.errors)} errors")
    head = "dry run, nothing written: " if report.dry_run else ""
    tz = app.calendar.timezone
    return f"{head}timers as of {local(app, report.now)} ({tz}): " + ", ".join(parts)
