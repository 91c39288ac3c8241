"""The SLA matrix (P8): resolution time in business hours by ticket type × priority.

The table comes from config (defaults below); callers recompute ``sla_due_at`` from
``created_at`` whenever type or priority changes. Time is always an argument, never read.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from maildesk.domain.calendar import BusinessCalendar

__all__ = [
    "DEFAULT_SLA_HOURS",
    "PRIORITIES",
    "TYPES",
    "Priority",
    "SlaStatus",
    "TicketType",
    "sla_due_at",
    "sla_hours",
    "sla_status",
    "validate_sla_table",
    "warning_at",
]


class TicketType(StrEnum):
    """What a ticket is about (P7): the SLA table's rows, agents' skills."""

    SUPPORT = "soporte"
    SETUP = "setup"
    ERROR = "error"
    ACTIVITY = "actividad"
    CONSULTING = "consultoria"
    FEATURE_REQUEST = "nuevo_requerimiento"  # P13: goes to the feature committee


class Priority(StrEnum):
    """How urgent a ticket is (P7), most urgent first: the SLA table's columns."""

    URGENT = "urgente"
    HIGH = "alta"
    MEDIUM = "media"
    LOW = "baja"


TYPES: tuple[TicketType, ...] = tuple(TicketType)
#: Column order of every SLA table row.
PRIORITIES: tuple[Priority, ...] = tuple(Priority)

#: P8 defaults. Types missing here (setup, consultoria, nuevo_requerimiento) have no SLA.
DEFAULT_SLA_HOURS: dict[str, tuple[float, float, float, float]] = {
    TicketType.SUPPORT: (4, 16, 40, 80),
    TicketType.ACTIVITY: (4, 16, 40, 80),
    TicketType.ERROR: (4, 16, 40, 80),
}


def _check_type_priority(type_: str, priority: str) -> None:
    if type_ not in TYPES:
        raise ValueError(f"unknown ticket type {type_!r}; expected one of {', '.join(TYPES)}")
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}; expected one of {', '.join(PRIORITIES)}")


def _check_row(type_: str, row: Sequence[float]) -> None:
    if isinstance(row, str) or len(row) != len(PRIORITIES):
        raise ValueError(
            f"SLA row for {type_!r} must have {len(PRIORITIES)} values "
            f"({', '.join(PRIORITIES)}), got {row!r}"
        )
    for priority, hours in zip(PRIORITIES, row, strict=True):
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours > 0:
            raise ValueError(f"SLA hours for {type_}/{priority} must be > 0, got {hours!r}")


def validate_sla_table(table: Mapping[str, Sequence[float]]) -> None:
    """Reject unknown types and malformed rows up front, so config errors surface at load."""
    for type_, row in table.items():
        if type_ not in TYPES:
            raise ValueError(f"unknown ticket type {type_!r} in SLA table")
        _check_row(type_, row)


def sla_hours(table: Mapping[str, Sequence[float]], type_: str, priority: str) -> float | None:
    """Business hours allowed for resolution; None when the type has no SLA."""
    _check_type_priority(type_, priority)
    row = table.get(type_)
    if row is None:
        return None
    _check_row(type_, row)
    return float(row[PRIORITIES.index(priority)])


def sla_due_at(
    calendar: BusinessCalendar,
    created_at: datetime,
    table: Mapping[str, Sequence[float]],
    type_: str,
    priority: str,
) -> datetime | None:
    """Resolution deadline counted from ``created_at``; None when there is no SLA."""
    hours = sla_hours(table, type_, priority)
    if hours is None:
        return None
    return calendar.add_hours(created_at, hours)


class SlaStatus(StrEnum):
    """Where a ticket stands against its SLA (timer T4 warns, then escalates)."""

    NONE = "none"
    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"


def _check_share(warn_at: float) -> None:
    if isinstance(warn_at, bool) or not isinstance(warn_at, int | float) or not 0 < warn_at <= 1:
        raise ValueError(f"warn_at must be a share in (0, 1], got {warn_at!r}")


def warning_at(
    calendar: BusinessCalendar,
    created_at: datetime,
    due_at: datetime | None,
    warn_at: float = 0.75,
) -> datetime | None:
    """Instant when ``warn_at`` of the SLA's business time is used (T4 warning query)."""
    _check_share(warn_at)
    if due_at is None:
        return None
    total = calendar.business_time_between(created_at, due_at)
    used = timedelta(microseconds=round(total / timedelta(microseconds=1) * warn_at))
    return calendar.add_hours(created_at, used)


def sla_status(
    calendar: BusinessCalendar,
    created_at: datetime,
    due_at: datetime | None,
    now: datetime,
    warn_at: float = 0.75,
) -> SlaStatus:
    """BREACHED once ``now >= due_at``; WARNING once ``warn_at`` of the time is used.

    Defined through ``warning_at`` so the status and the T4 query never disagree.
    """
    _check_share(warn_at)
    if due_at is None:
        return SlaStatus.NONE
    if now >= due_at:
        return SlaStatus.BREACHED
    warn = warning_at(calendar, created_at, due_at, warn_at)
    if warn is not None and now >= warn:
        return SlaStatus.WARNING
    return SlaStatus.OK
