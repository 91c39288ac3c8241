"""Dates for people (SPEC §10): words in the reader's language, the support zone, no seconds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.domain.dates import (
    date_in_words,
    datetime_in_words,
    hours_in_words,
    round_the_clock_in_words,
    zone_in_words,
)

MX = ZoneInfo("America/Mexico_City")
CHICAGO = ZoneInfo("America/Chicago")


def test_dates_for_people_spanish_example_of_the_spec() -> None:
    due = datetime(2026, 12, 15, 19, 0, 42, 123456, tzinfo=UTC)  # 13:00:42 in Mexico City
    assert datetime_in_words(due, "es", MX) == (
        "martes 15 de diciembre de 2026, 13:00 h (hora del centro)"
    )


def test_dates_for_people_english_equivalent() -> None:
    due = datetime(2026, 12, 15, 13, 0, tzinfo=MX)
    assert datetime_in_words(due, "en", MX) == (
        "Tuesday, December 15, 2026, 1:00 PM (Mexico City time)"
    )
    assert datetime_in_words(due.replace(hour=0, minute=5), "en", MX).endswith(
        "12:05 AM (Mexico City time)"
    )
    assert "12:30 PM" in datetime_in_words(due.replace(hour=12, minute=30), "en", MX)


def test_dates_for_people_in_the_support_zone_whatever_the_stored_zone() -> None:
    """Stored instants are UTC; the reader gets the support timezone's wall clock, and the
    day can change with it."""
    late = datetime(2027, 1, 1, 3, 15, tzinfo=UTC)  # 21:15 on New Year's Eve in Mexico City
    assert datetime_in_words(late, "es", MX) == (
        "jueves 31 de diciembre de 2026, 21:15 h (hora del centro)"
    )
    assert datetime_in_words(late, "es", CHICAGO).endswith("21:15 h (hora de Chicago)")
    assert datetime_in_words(late, "en", ZoneInfo("UTC")).endswith("3:15 AM (UTC)")


def test_dates_for_people_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        datetime_in_words(datetime(2026, 12, 15, 13, 0), "es", MX)


def test_dates_for_people_date_only() -> None:
    assert date_in_words(date(2026, 6, 30), "es") == "martes 30 de junio de 2026"
    assert date_in_words(date(2026, 6, 30), "en") == "Tuesday, June 30, 2026"
    assert date_in_words(date(2026, 6, 30), "es-MX") == "martes 30 de junio de 2026"


def test_dates_for_people_zone_names() -> None:
    assert zone_in_words(MX, "es") == "hora del centro"
    assert zone_in_words(ZoneInfo("America/Argentina/Buenos_Aires"), "en") == "Buenos Aires time"


def test_p9_hours_in_words() -> None:
    week = range(5)
    assert hours_in_words(week, time(8, 30), time(19, 0), "es", MX) == (
        "lunes a viernes de 8:30 a 19:00 h (hora del centro)"
    )
    assert hours_in_words(week, time(8, 30), time(19, 0), "en", MX) == (
        "Monday to Friday, 8:30 AM to 7:00 PM (Mexico City time)"
    )
    assert hours_in_words([0, 2, 4], time(9, 0), time(14, 0), "es", MX).startswith(
        "lunes, miércoles y viernes de 9:00 a 14:00 h"
    )
    assert "24×7" in round_the_clock_in_words("es") and "24×7" in round_the_clock_in_words("en")


_MONTHS_ES = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]
_WEEKDAYS_ES = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]
_SPANISH = re.compile(
    r"^(\w+) (\d{1,2}) de (\w+) de (\d{4}), (\d{1,2}):(\d{2}) h \(hora del centro\)$"
)


@given(
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
)
def test_dates_for_people_read_back_to_the_minute(instant: datetime) -> None:
    """Any instant reads back, from the Spanish words alone, as the same local minute (the
    weekday agrees with the date); seconds never appear."""
    words = datetime_in_words(instant, "es", MX)
    m = _SPANISH.match(words)
    assert m, words
    weekday, day, month, year, hour, minute = m.groups()
    read = datetime(
        int(year), _MONTHS_ES.index(month) + 1, int(day), int(hour), int(minute), tzinfo=MX
    )
    local = instant.astimezone(MX)
    assert read.replace(tzinfo=None) == local.replace(second=0, microsecond=0, tzinfo=None)
    assert _WEEKDAYS_ES[read.weekday()] == weekday
    english = datetime_in_words(instant, "en", MX)
    assert english.count(":") == 1 and str(local.year) in english
