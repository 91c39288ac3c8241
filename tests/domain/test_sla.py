"""The SLA matrix (P8) on top of the business calendar (P9)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from maildesk.domain.calendar import BusinessCalendar
from maildesk.domain.sla import (
    DEFAULT_SLA_HOURS,
    PRIORITIES,
    TYPES,
    SlaStatus,
    sla_due_at,
    sla_hours,
    sla_status,
    validate_sla_table,
    warning_at,
)

MX = ZoneInfo("America/Mexico_City")
CAL = BusinessCalendar()


def mx(*args: int) -> datetime:
    return datetime(*args, tzinfo=MX)


@pytest.mark.parametrize("type_", ["soporte", "actividad", "error"])
@pytest.mark.parametrize(
    ("priority", "hours"), [("urgente", 4), ("alta", 16), ("media", 40), ("baja", 80)]
)
def test_p8_default_table(type_: str, priority: str, hours: float) -> None:
    assert sla_hours(DEFAULT_SLA_HOURS, type_, priority) == hours


@pytest.mark.parametrize("type_", ["nuevo_requerimiento", "setup", "consultoria"])
@pytest.mark.parametrize("priority", PRIORITIES)
def test_p8_no_sla_by_default(type_: str, priority: str) -> None:
    assert sla_hours(DEFAULT_SLA_HOURS, type_, priority) is None
    assert sla_due_at(CAL, mx(2026, 3, 2, 9, 0), DEFAULT_SLA_HOURS, type_, priority) is None


def test_p8_setup_sla_is_configurable() -> None:
    table = {**DEFAULT_SLA_HOURS, "setup": (8, 24, 48, 96)}
    assert sla_hours(table, "setup", "alta") == 24


def test_p8_due_dates_in_business_hours() -> None:
    created = mx(2026, 3, 2, 8, 30)  # Monday opening
    due = {p: sla_due_at(CAL, created, DEFAULT_SLA_HOURS, "soporte", p) for p in PRIORITIES}
    assert due["urgente"] == mx(2026, 3, 2, 12, 30)
    assert due["alta"] == mx(2026, 3, 3, 14, 0)
    assert due["media"] == mx(2026, 3, 5, 17, 0)
    assert due["baja"] == mx(2026, 3, 11, 15, 0)


def test_p8_due_date_changes_with_priority_from_created_at() -> None:
    created = mx(2026, 3, 6, 18, 0)  # Friday evening
    media = sla_due_at(CAL, created, DEFAULT_SLA_HOURS, "error", "media")
    urgente = sla_due_at(CAL, created, DEFAULT_SLA_HOURS, "error", "urgente")
    assert urgente == mx(2026, 3, 9, 11, 30)
    assert media is not None and urgente is not None and urgente < media
    assert CAL.business_hours_between(created, media) == pytest.approx(40)
    # Re-classified as a new feature: the SLA disappears.
    assert sla_due_at(CAL, created, DEFAULT_SLA_HOURS, "nuevo_requerimiento", "media") is None


def test_p8_seven_by_twenty_four_counts_wall_clock() -> None:
    created = mx(2026, 3, 6, 18, 0)
    due = sla_due_at(BusinessCalendar.always(), created, DEFAULT_SLA_HOURS, "soporte", "urgente")
    assert due == mx(2026, 3, 6, 22, 0)


def test_p8_status_boundaries() -> None:
    created = mx(2026, 3, 2, 8, 30)
    due = sla_due_at(CAL, created, DEFAULT_SLA_HOURS, "soporte", "urgente")
    assert due == mx(2026, 3, 2, 12, 30)
    tick = timedelta(microseconds=1)
    assert warning_at(CAL, created, due) == mx(2026, 3, 2, 11, 30)
    assert sla_status(CAL, created, due, created) is SlaStatus.OK
    assert sla_status(CAL, created, due, mx(2026, 3, 2, 11, 30) - tick) is SlaStatus.OK
    assert sla_status(CAL, created, due, mx(2026, 3, 2, 11, 30)) is SlaStatus.WARNING
    assert sla_status(CAL, created, due, due - tick) is SlaStatus.WARNING
    assert sla_status(CAL, created, due, due) is SlaStatus.BREACHED
    assert sla_status(CAL, created, due, due + timedelta(days=3)) is SlaStatus.BREACHED


def test_p8_status_counts_business_time_overnight() -> None:
    created = mx(2026, 3, 2, 17, 0)  # Monday, 2 h before closing
    due = sla_due_at(CAL, created, DEFAULT_SLA_HOURS, "soporte", "urgente")
    assert due == mx(2026, 3, 3, 10, 30)
    assert warning_at(CAL, created, due) == mx(2026, 3, 3, 9, 30)
    assert sla_status(CAL, created, due, mx(2026, 3, 2, 23, 0)) is SlaStatus.OK
    assert sla_status(CAL, created, due, mx(2026, 3, 3, 9, 29)) is SlaStatus.OK
    assert sla_status(CAL, created, due, mx(2026, 3, 3, 9, 30)) is SlaStatus.WARNING


def test_p8_status_custom_warn_share() -> None:
    created = mx(2026, 3, 2, 8, 30)
    due = mx(2026, 3, 2, 12, 30)
    assert warning_at(CAL, created, due, warn_at=0.5) == mx(2026, 3, 2, 10, 30)
    assert sla_status(CAL, created, due, mx(2026, 3, 2, 10, 30), 0.5) is SlaStatus.WARNING
    with pytest.raises(ValueError, match="warn_at"):
        sla_status(CAL, created, due, created, warn_at=1.5)


def test_p8_no_sla_status_is_none() -> None:
    created = mx(2026, 3, 2, 8, 30)
    assert sla_status(CAL, created, None, created + timedelta(days=90)) is SlaStatus.NONE
    assert warning_at(CAL, created, None) is None
    assert SlaStatus.BREACHED == "breached"


def test_p8_unknown_type_or_priority_rejected() -> None:
    with pytest.raises(ValueError, match="type"):
        sla_hours(DEFAULT_SLA_HOURS, "bug", "alta")
    with pytest.raises(ValueError, match="priority"):
        sla_hours(DEFAULT_SLA_HOURS, "soporte", "critica")
    with pytest.raises(ValueError, match="priority"):
        sla_due_at(CAL, mx(2026, 3, 2, 9, 0), DEFAULT_SLA_HOURS, "setup", "Alta")


def test_p8_validate_table() -> None:
    validate_sla_table(DEFAULT_SLA_HOURS)
    assert set(DEFAULT_SLA_HOURS) <= set(TYPES)
    with pytest.raises(ValueError, match="unknown ticket type"):
        validate_sla_table({"bug": (1, 2, 3, 4)})
    with pytest.raises(ValueError, match="4 values"):
        validate_sla_table({"soporte": (1, 2, 3)})
    with pytest.raises(ValueError, match="> 0"):
        validate_sla_table({"soporte": (1, 2, 0, 4)})
