"""Business time (P9): open hours, holidays and arithmetic on them.

Pure: no I/O and no clock; every instant comes in as an argument. All arithmetic is done on
UTC instants (aware datetimes sharing one ZoneInfo subtract as wall clocks, which is wrong
across DST), while open hours are local wall-clock hours of ``tz``.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = ["WEEKDAYS", "BusinessCalendar"]

#: Weekday names accepted in ``workdays`` (``date.weekday()`` order).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_ONE_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)


def _parse_hhmm(value: str, what: str) -> time:
    """Parse ``HH:MM`` (00:00-23:59); config errors must name the bad value."""
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{what} time must be HH:MM, got {value!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"{what} time {value!r} is not a valid time of day (00:00-23:59)")
    return time(hour, minute)


def _parse_weekday(name: str) -> int:
    key = name.strip().lower() if isinstance(name, str) else ""
    if key in WEEKDAYS:
        return WEEKDAYS.index(key)
    if key in _FULL_NAMES:
        return _FULL_NAMES.index(key)
    raise ValueError(f"unknown weekday {name!r}; expected one of {', '.join(WEEKDAYS)}")


def _parse_extra_holiday(value: date | str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"extra holiday must be a date, not a datetime: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"extra holiday must be a date (YYYY-MM-DD), got {value!r}")


def _require_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


def _as_timedelta(hours: float | timedelta) -> timedelta:
    if isinstance(hours, timedelta):
        delta = hours
    else:
        if not isinstance(hours, int | float) or not math.isfinite(hours):
            raise ValueError(f"hours must be a finite number, got {hours!r}")
        delta = timedelta(hours=hours)
    if delta < timedelta(0):
        raise ValueError(f"hours must not be negative, got {hours!r}")
    return delta


class BusinessCalendar:
    """Mon–Fri 08:30–19:00 America/Mexico_City by default; holidays skipped.

    Open hours are local wall-clock hours, so across a DST change a business day still has
    ``close - open`` of real open time. ``always_open`` is the 24x7 calendar of customers
    with the ``7x24`` policy: every hour counts and every day is a business day.
    """

    def __init__(
        self,
        timezone: str = "America/Mexico_City",
        open: str = "08:30",
        close: str = "19:00",
        workdays: Iterable[str] = ("mon", "tue", "wed", "thu", "fri"),
        holidays_country: str | None = "MX",
        extra_holidays: Iterable[date] = (),
        *,
        always_open: bool = False,
    ) -> None:
        if not isinstance(timezone, str) or not timezone.strip():
            raise ValueError(f"timezone must be an IANA zone name, got {timezone!r}")
        try:
            self.tz: ZoneInfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {timezone!r}") from exc
        self.timezone = timezone
        self.always_open = bool(always_open)
        self.open_time = _parse_hhmm(open, "open")
        self.close_time = _parse_hhmm(close, "close")
        if not self.always_open and self.open_time >= self.close_time:
            raise ValueError(f"open time {open!r} must be before close time {close!r}")
        self.workdays = frozenset(_parse_weekday(name) for name in workdays)
        if not self.always_open and not self.workdays:
            raise ValueError("workdays must name at least one weekday")
        self.holidays_country = holidays_country
        if holidays_country is not None:
            try:
                holidays_lib.country_holidays(holidays_country)
            except NotImplementedError as exc:
                raise ValueError(f"unknown holidays country {holidays_country!r}") from exc
        self.extra_holidays = frozenset(_parse_extra_holiday(d) for d in extra_holidays)
        self._holiday_years: dict[int, frozenset[date]] = {}
        self._intervals: dict[date, tuple[datetime, datetime] | None] = {}

    @classmethod
    def always(cls, timezone: str = "America/Mexico_City") -> BusinessCalendar:
        """The 24x7 calendar (policy ``7x24``): SLA hours are plain elapsed hours."""
        return cls(timezone=timezone, holidays_country=None, always_open=True)

    def __repr__(self) -> str:
        if self.always_open:
            return f"BusinessCalendar.always({self.timezone!r})"
        days = ",".join(WEEKDAYS[i] for i in sorted(self.workdays))
        return (
            f"BusinessCalendar({self.timezone!r}, {self.open_time:%H:%M}-{self.close_time:%H:%M}"
            f", {days}, holidays={self.holidays_country!r}, extra={len(self.extra_holidays)})"
        )

    # -- days ------------------------------------------------------------------------------

    def _holidays_of(self, year: int) -> frozenset[date]:
        """Holidays of one year, computed on first use (the package is slow per call)."""
        cached = self._holiday_years.get(year)
        if cached is None:
            found: set[date] = set()
            if self.holidays_country is not None:
                found.update(holidays_lib.country_holidays(self.holidays_country, years=year))
            cached = frozenset(found)
            self._holiday_years[year] = cached
        return cached

    def is_holiday(self, day: date) -> bool:
        """True for a public holiday of the configured country or an extra holiday."""
        return day in self.extra_holidays or day in self._holidays_of(day.year)

    def is_business_day(self, day: date) -> bool:
        """A workday that is not a holiday (every day for the 24x7 calendar)."""
        if isinstance(day, datetime):
            raise TypeError("is_business_day takes a date; use .astimezone(cal.tz).date()")
        if self.always_open:
            return True
        return day.weekday() in self.workdays and not self.is_holiday(day)

    # -- local wall time -> instant ------------------------------------------------------

    def _instant(self, day: date, at: time) -> datetime:
        """UTC instant when the local clock first reads ``at`` on ``day``.

        Ambiguous times (DST fall-back) take the first occurrence; nonexistent times (the
        spring-forward gap) take the transition instant, the first moment the clock shows
        a time at or after ``at``.
        """
        naive = datetime.combine(day, at)
        later = naive.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        if later.astimezone(self.tz).replace(tzinfo=None) == naive:
            return later
        earlier = naive.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        lo, hi = min(earlier, later), max(earlier, later)
        while hi - lo > _MICROSECOND:
            mid = lo + (hi - lo) / 2
            if mid.astimezone(self.tz).replace(tzinfo=None) >= naive:
                hi = mid
            else:
                lo = mid
        return hi

    def _interval(self, day: date) -> tuple[datetime, datetime] | None:
        """Open interval ``[open, close)`` of ``day`` as UTC instants, None when closed."""
        if day in self._intervals:
            return self._intervals[day]
        interval: tuple[datetime, datetime] | None = None
        if self.is_business_day(day):
            opens = self._instant(day, self.open_time)
            closes = self._instant(day, self.close_time)
            if opens < closes:
                interval = (opens, closes)
        self._intervals[day] = interval
        return interval

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    # -- hours -------------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        """True when ``at`` (aware, any zone) is inside open hours; closing time is closed."""
        _require_aware(at, "at")
        if self.always_open:
            return True
        interval = self._interval(self._local_date(at))
        return interval is not None and interval[0] <= at < interval[1]

    def add_hours(self, start: datetime, hours: float | timedelta) -> datetime:
        """``start`` plus ``hours`` of business time, in ``self.tz``.

        The clock starts at the next opening when ``start`` is closed; a result landing
        exactly on closing time stays there. Jumps whole days, so large spans are cheap.
        """
        _require_aware(start, "start")
        remaining = _as_timedelta(hours)
        cursor = start.astimezone(UTC)
        if self.always_open:
            return (cursor + remaining).astimezone(self.tz)
        day = self._local_date(cursor)
        while True:
            interval = self._interval(day)
            if interval is not None:
                opens, closes = interval
                cursor = max(cursor, opens)
                if cursor < closes:
                    available = closes - cursor
                    if remaining <= available:
                        return (cursor + remaining).astimezone(self.tz)
                    remaining -= available
                    cursor = closes
            day += _ONE_DAY

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time elapsed from ``start`` to ``end`` (zero if ``end <= start``)."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return timedelta(0)
        if self.always_open:
            return end - start
        total = timedelta(0)
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            interval = self._interval(day)
            if interval is not None:
                lo, hi = max(start, interval[0]), min(end, interval[1])
                if lo < hi:
                    total += hi - lo
            day += _ONE_DAY
        return total

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Inverse of ``add_hours``: business hours elapsed (0 if ``end <= start``)."""
        return self.business_time_between(start, end) / timedelta(hours=1)

    # -- days --------------------------------------------------------------------------------

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """Same local wall time ``days`` business days after ``start``'s local date (T1).

        Only business days strictly after the start date count, so a start on a weekend or
        holiday counts from the next business day. A wall time that does not exist on the
        target day (DST gap) maps to the transition instant.
        """
        _require_aware(start, "start")
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError(f"days must be a non-negative integer, got {days!r}")
        local = start.astimezone(self.tz)
        if days == 0:
            return local
        day = local.date()
        counted = 0
        while counted < days:
            day += _ONE_DAY
            if self.is_business_day(day):
                counted += 1
        wall = local.time().replace(tzinfo=None, fold=0)
        return self._instant(day, wall).astimezone(self.tz)

    def window_start(self, at: datetime, days: int) -> datetime:
        """An instant before which everything is at least `days` business days old at `at`
        (an index bound for timer T1; callers check each candidate with add_business_days).

        Walks back `days` business days from `at`'s local date; one hour of slack covers
        zones whose midnight falls in a DST gap."""
        _require_aware(at, "at")
        day = at.astimezone(self.tz).date()
        counted = 0
        while counted < days:
            if self.is_business_day(day):
                counted += 1
            day -= _ONE_DAY
        return datetime.combine(day + _ONE_DAY, time(0), tzinfo=self.tz) + timedelta(hours=1)

    def business_days_between(self, start: datetime, end: datetime) -> int:
        """Business days ``d`` with ``start``'s local date < d <= ``end``'s local date."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        day, last = self._local_date(start), self._local_date(end)
        count = 0
        while day < last:
            day += _ONE_DAY
            if self.is_business_day(day):
                count += 1
        return count
