"""Business time (P9) and the 15-business-day window used by timer T1 (P10)."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.domain.calendar import BusinessCalendar

MX = ZoneInfo("America/Mexico_City")
CHI = ZoneInfo("America/Chicago")

CAL_MX = BusinessCalendar()
CAL_CHI = BusinessCalendar(timezone="America/Chicago", holidays_country="US")
CALENDARS = [CAL_MX, CAL_CHI]
CAL_IDS = ["mexico_city", "chicago"]


def mx(*args: int) -> datetime:
    return datetime(*args, tzinfo=MX)


def chi(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHI)


# -- concrete examples -----------------------------------------------------------------------


def test_p9_friday_evening_plus_4h_is_monday_1130() -> None:
    friday = mx(2026, 3, 6, 18, 0)
    assert CAL_MX.add_hours(friday, 4) == mx(2026, 3, 9, 11, 30)


def test_p9_result_is_in_calendar_timezone() -> None:
    start = datetime(2026, 3, 6, 18, 0, tzinfo=MX).astimezone(UTC)
    result = CAL_MX.add_hours(start, 4)
    assert result.tzinfo == MX
    assert result.replace(tzinfo=None) == datetime(2026, 3, 9, 11, 30)


def test_p9_saturday_ticket_starts_counting_monday_0830() -> None:
    saturday = mx(2026, 3, 7, 10, 0)
    assert CAL_MX.add_hours(saturday, 0) == mx(2026, 3, 9, 8, 30)
    assert CAL_MX.add_hours(saturday, 4) == mx(2026, 3, 9, 12, 30)
    assert CAL_MX.business_hours_between(saturday, mx(2026, 3, 9, 8, 30)) == 0


def test_p9_landing_on_closing_time_stays_at_closing() -> None:
    monday = mx(2026, 3, 2, 8, 30)
    assert CAL_MX.add_hours(monday, 10.5) == mx(2026, 3, 2, 19, 0)
    assert not CAL_MX.is_open(mx(2026, 3, 2, 19, 0))
    assert CAL_MX.is_open(mx(2026, 3, 2, 18, 59, 59))
    assert CAL_MX.is_open(mx(2026, 3, 2, 8, 30))
    assert not CAL_MX.is_open(mx(2026, 3, 2, 8, 29, 59))


def test_p9_zero_hours_when_open_is_start() -> None:
    start = mx(2026, 3, 3, 12, 15)
    assert CAL_MX.add_hours(start, 0) == start
    assert CAL_MX.add_hours(mx(2026, 3, 3, 19, 0), 0) == mx(2026, 3, 4, 8, 30)


def test_p9_mexican_holidays_from_package() -> None:
    assert not CAL_MX.is_business_day(date(2026, 11, 16))  # Revolution Day, a Monday
    assert not CAL_MX.is_business_day(date(2026, 12, 25))
    assert not CAL_MX.is_business_day(date(2026, 2, 2))  # Constitution Day, first Monday
    assert not CAL_MX.is_business_day(date(2026, 3, 16))  # Juárez, third Monday of March
    assert CAL_MX.is_business_day(date(2026, 11, 17))
    assert not CAL_MX.is_business_day(date(2026, 11, 14))  # Saturday


def test_p9_mexican_holiday_is_skipped() -> None:
    friday = mx(2026, 11, 13, 18, 0)
    assert CAL_MX.add_hours(friday, 4) == mx(2026, 11, 17, 11, 30)
    assert not CAL_MX.is_open(mx(2026, 11, 16, 12, 0))
    assert CAL_MX.business_hours_between(friday, mx(2026, 11, 17, 11, 30)) == pytest.approx(4)


def test_p9_extra_holidays_are_skipped() -> None:
    cal = BusinessCalendar(extra_holidays=[date(2026, 3, 9)])
    assert not cal.is_business_day(date(2026, 3, 9))
    assert cal.add_hours(mx(2026, 3, 6, 18, 0), 4) == mx(2026, 3, 10, 11, 30)


def test_p9_no_holidays_country() -> None:
    cal = BusinessCalendar(holidays_country=None)
    assert cal.is_business_day(date(2026, 11, 16))
    assert cal.add_hours(mx(2026, 11, 13, 18, 0), 4) == mx(2026, 11, 16, 11, 30)


def test_p9_chicago_spring_forward_gives_correct_utc() -> None:
    # DST starts Sunday 2026-03-08: Friday is CST (UTC-6), Monday is CDT (UTC-5).
    friday = chi(2026, 3, 6, 18, 0)
    result = CAL_CHI.add_hours(friday, 4)
    assert result.astimezone(UTC) == datetime(2026, 3, 9, 16, 30, tzinfo=UTC)
    assert result.replace(tzinfo=None) == datetime(2026, 3, 9, 11, 30)
    assert CAL_CHI.business_hours_between(friday, result) == pytest.approx(4)


def test_p9_chicago_fall_back_gives_correct_utc() -> None:
    # DST ends Sunday 2026-11-01: Friday is CDT (UTC-5), Monday is CST (UTC-6).
    friday = chi(2026, 10, 30, 18, 0)
    result = CAL_CHI.add_hours(friday, 4)
    assert result.astimezone(UTC) == datetime(2026, 11, 2, 17, 30, tzinfo=UTC)
    assert result.replace(tzinfo=None) == datetime(2026, 11, 2, 11, 30)


def test_p9_business_day_on_dst_change_is_full_length() -> None:
    every_day = BusinessCalendar(
        timezone="America/Chicago",
        workdays=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        holidays_country=None,
    )
    for day in (date(2026, 3, 8), date(2026, 11, 1)):
        opening = datetime.combine(day, time(8, 30), tzinfo=CHI)
        assert every_day.add_hours(opening, 10.5).replace(tzinfo=None) == datetime.combine(
            day, time(19, 0)
        )
        closing_before = datetime.combine(day - timedelta(days=1), time(19, 0), tzinfo=CHI)
        closing_after = datetime.combine(day, time(19, 0), tzinfo=CHI)
        assert every_day.business_hours_between(closing_before, closing_after) == 10.5


def test_p9_opening_in_dst_gap_and_fold() -> None:
    night = BusinessCalendar(
        timezone="America/Chicago",
        open="02:30",
        close="19:00",
        workdays=("sun",),
        holidays_country=None,
    )
    # 02:30 does not exist on 2026-03-08: the office opens when the clock jumps (03:00 CDT).
    opening = night.add_hours(chi(2026, 3, 7, 12, 0), 0)
    assert opening.astimezone(UTC) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    assert not night.is_open(datetime(2026, 3, 8, 7, 59, 59, tzinfo=UTC))
    early = BusinessCalendar(
        timezone="America/Chicago", open="01:30", workdays=("sun",), holidays_country=None
    )
    # 01:30 happens twice on 2026-11-01: the first occurrence (CDT) opens.
    opening = early.add_hours(chi(2026, 10, 31, 12, 0), 0)
    assert opening.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert early.business_hours_between(opening, chi(2026, 11, 1, 19, 0)) == 18.5


def test_p9_always_open_is_wall_clock() -> None:
    cal = BusinessCalendar.always()
    saturday = mx(2026, 3, 7, 10, 0)
    assert cal.is_open(saturday)
    assert cal.is_open(mx(2026, 12, 25, 3, 0))
    assert cal.add_hours(mx(2026, 3, 6, 18, 0), 4) == mx(2026, 3, 6, 22, 0)
    assert cal.add_hours(saturday, 80) == mx(2026, 3, 10, 18, 0)
    assert cal.business_hours_between(saturday, mx(2026, 3, 10, 18, 0)) == 80
    assert cal.add_business_days(saturday, 3) == mx(2026, 3, 10, 10, 0)


def test_p9_always_open_counts_elapsed_hours_across_dst() -> None:
    cal = BusinessCalendar.always("America/Chicago")
    start = chi(2026, 3, 7, 12, 0)
    result = cal.add_hours(start, 24)
    assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    assert result.replace(tzinfo=None) == datetime(2026, 3, 8, 13, 0)


def test_p9_timedelta_hours_and_large_spans_are_fast() -> None:
    start = mx(2026, 3, 2, 8, 30)
    assert CAL_MX.add_hours(start, timedelta(hours=4)) == CAL_MX.add_hours(start, 4)
    began = clock.perf_counter()
    far = CAL_MX.add_hours(start, 10_000)
    elapsed = clock.perf_counter() - began
    assert CAL_MX.business_hours_between(start, far) == pytest.approx(10_000)
    assert elapsed < 1.0


def test_p9_business_hours_between_reversed_is_zero() -> None:
    assert CAL_MX.business_hours_between(mx(2026, 3, 3, 12, 0), mx(2026, 3, 2, 12, 0)) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"open": "25:00"}, "open"),
        ({"close": "19:60"}, "close"),
        ({"open": "8h30"}, "open"),
        ({"open": "19:00", "close": "08:30"}, "before"),
        ({"workdays": ("mon", "funday")}, "weekday"),
        ({"workdays": ()}, "workdays"),
        ({"holidays_country": "XX"}, "country"),
        ({"extra_holidays": ["not-a-date"]}, "extra holiday"),
    ],
)
def test_p9_invalid_config_raises_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_p9_naive_datetimes_and_negative_hours_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL_MX.is_open(datetime(2026, 3, 2, 10, 0))
    with pytest.raises(ValueError, match="negative"):
        CAL_MX.add_hours(mx(2026, 3, 2, 10, 0), -1)
    with pytest.raises(ValueError, match="non-negative"):
        CAL_MX.add_business_days(mx(2026, 3, 2, 10, 0), -1)


def test_p9_workday_names_are_case_insensitive() -> None:
    cal = BusinessCalendar(workdays=("Mon", "SATURDAY"), holidays_country=None)
    assert cal.is_business_day(date(2026, 3, 7))
    assert not cal.is_business_day(date(2026, 3, 3))


# -- 15 business days (T1) ------------------------------------------------------------------


def test_p10_t1_resolved_friday_fifteen_business_days() -> None:
    # Weekends skipped and Christmas (Friday 2026-12-25) is a holiday: 15th day is Dec 28.
    resolved = mx(2026, 12, 4, 10, 0)
    due = CAL_MX.add_business_days(resolved, 15)
    assert due == mx(2026, 12, 28, 10, 0)
    assert CAL_MX.business_days_between(resolved, due) == 15
    assert CAL_MX.business_days_between(resolved, due - timedelta(days=1)) == 14
    assert not due - timedelta(microseconds=1) >= due


def test_p10_t1_window_across_revolution_day() -> None:
    resolved = mx(2026, 11, 6, 18, 45)
    assert CAL_MX.add_business_days(resolved, 15) == mx(2026, 11, 30, 18, 45)


def test_p10_t1_start_on_non_business_day() -> None:
    saturday = mx(2026, 3, 7, 23, 0)
    assert CAL_MX.add_business_days(saturday, 1) == mx(2026, 3, 9, 23, 0)
    assert CAL_MX.add_business_days(saturday, 0) == saturday


def test_p10_business_days_between_helper() -> None:
    assert CAL_MX.business_days_between(mx(2026, 3, 6, 10, 0), mx(2026, 3, 9, 9, 0)) == 1
    assert CAL_MX.business_days_between(mx(2026, 3, 9, 10, 0), mx(2026, 3, 9, 18, 0)) == 0
    assert CAL_MX.business_days_between(mx(2026, 3, 9, 10, 0), mx(2026, 3, 2, 18, 0)) == 0


# -- properties -----------------------------------------------------------------------------

HOURS = st.one_of(
    st.floats(min_value=0, max_value=300, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=300 * 4).map(lambda q: timedelta(minutes=15 * q)),
)
POSITIVE_HOURS = st.one_of(
    st.floats(min_value=0.001, max_value=300, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=300 * 4).map(lambda q: timedelta(minutes=15 * q)),
)
PROPS = settings(max_examples=60, deadline=None)


def starts(cal: BusinessCalendar) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2024, 1, 1),
        max_value=datetime(2028, 12, 31),
        timezones=st.just(cal.tz),
        allow_imaginary=False,
    )


def as_hours(value: float | timedelta) -> float:
    return value / timedelta(hours=1) if isinstance(value, timedelta) else float(value)


def at_closing(cal: BusinessCalendar, at: datetime) -> bool:
    local = at.astimezone(cal.tz)
    return cal.is_business_day(local.date()) and local.time() == cal.close_time


@pytest.mark.parametrize("cal", CALENDARS, ids=CAL_IDS)
@PROPS
@given(data=st.data(), hours=HOURS)
def test_p9_property_result_inside_open_hours(
    cal: BusinessCalendar, data: st.DataObject, hours: float | timedelta
) -> None:
    start = data.draw(starts(cal))
    result = cal.add_hours(start, hours)
    assert result.tzinfo == cal.tz
    assert result >= start
    assert cal.is_open(result) or at_closing(cal, result)


@pytest.mark.parametrize("cal", CALENDARS, ids=CAL_IDS)
@PROPS
@given(data=st.data(), first=HOURS, second=POSITIVE_HOURS)
def test_p9_property_adding_twice_equals_adding_sum(
    cal: BusinessCalendar, data: st.DataObject, first: float | timedelta, second: float | timedelta
) -> None:
    start = data.draw(starts(cal))
    total = as_hours(first) + as_hours(second)
    stepwise = cal.add_hours(cal.add_hours(start, first), second)
    at_once = cal.add_hours(start, total)
    assert abs(stepwise - at_once) <= timedelta(microseconds=1)


@pytest.mark.parametrize("cal", CALENDARS, ids=CAL_IDS)
@PROPS
@given(data=st.data(), hours=HOURS)
def test_p9_property_between_is_inverse_of_add(
    cal: BusinessCalendar, data: st.DataObject, hours: float | timedelta
) -> None:
    start = data.draw(starts(cal))
    end = cal.add_hours(start, hours)
    assert cal.business_hours_between(start, end) == pytest.approx(as_hours(hours), abs=1e-6)


@pytest.mark.parametrize("cal", CALENDARS, ids=CAL_IDS)
@PROPS
@given(data=st.data(), a=HOURS, b=HOURS)
def test_p9_property_add_hours_is_monotonic(
    cal: BusinessCalendar, data: st.DataObject, a: float | timedelta, b: float | timedelta
) -> None:
    start = data.draw(starts(cal))
    low, high = sorted((as_hours(a), as_hours(b)))
    assert cal.add_hours(start, low) <= cal.add_hours(start, high)


@pytest.mark.parametrize("cal", CALENDARS, ids=CAL_IDS)
@PROPS
@given(data=st.data(), days=st.integers(min_value=1, max_value=40))
def test_p10_property_add_business_days_lands_on_business_day(
    cal: BusinessCalendar, data: st.DataObject, days: int
) -> None:
    start = data.draw(starts(cal))
    result = cal.add_business_days(start, days)
    local_start = start.astimezone(cal.tz)
    assert result.tzinfo == cal.tz
    assert cal.is_business_day(result.date())
    assert cal.business_days_between(start, result) == days
    wanted = datetime.combine(result.date(), local_start.time())
    exists = (
        wanted.replace(tzinfo=cal.tz).astimezone(UTC).astimezone(cal.tz).replace(tzinfo=None)
        == wanted
    )
    if exists:
        assert result.replace(tzinfo=None) == wanted
    else:  # a wall time inside a DST gap moves to the transition, never earlier
        assert result.replace(tzinfo=None) > wanted
