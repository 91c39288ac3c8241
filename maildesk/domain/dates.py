"""Dates and hours as people read them (SPEC §10 "Dates for people"), in Spanish or English.

"martes 15 de diciembre de 2026, 13:00 h (hora del centro)" rather than
"2026-12-15 13:00 (America/Mexico_City)": a customer should not have to decode an ISO stamp
or an IANA zone name to know when their ticket is due. Every template, the transcript and
`tickets show` use these functions, so a date reads the same wherever it appears. Seconds
and microseconds are never shown (a due time is a promise to the minute, not a stopwatch);
the time is cut to the minute, never rounded up past the promise.

Pure: the instant and the zone come in as arguments; no clock, no config. Languages other
than es/en (an operator's extra template language) read the English forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo

__all__ = [
    "LANGUAGES",
    "date_in_words",
    "datetime_in_words",
    "hours_in_words",
    "round_the_clock_in_words",
    "time_in_words",
    "zone_in_words",
]

LANGUAGES: tuple[str, ...] = ("es", "en")

_WEEKDAYS = {
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "es": (
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
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
# The policy's own words for its zone ("hora del centro", Mexico's Zona Centro); other zones
# are named by their city, which is how people say them ("hora de Chicago").
_ZONE_NAMES = {
    "America/Mexico_City": {"es": "hora del centro", "en": "Mexico City time"},
    "UTC": {"es": "hora UTC", "en": "UTC"},
    "Etc/UTC": {"es": "hora UTC", "en": "UTC"},
}


def _lang(language: str) -> str:
    return "es" if language.split("-")[0].split("_")[0].lower() == "es" else "en"


def zone_in_words(zone: tzinfo, language: str) -> str:
    """How the zone is named to a reader: "hora del centro", "hora de Chicago", "UTC"."""
    lang = _lang(language)
    key = getattr(zone, "key", None) or str(zone)
    known = _ZONE_NAMES.get(key)
    if known is not None:
        return known[lang]
    city = key.rsplit("/", 1)[-1].replace("_", " ")
    return f"hora de {city}" if lang == "es" else f"{city} time"


def date_in_words(value: date, language: str) -> str:
    """ "martes 15 de diciembre de 2026" / "Tuesday, December 15, 2026"."""
    lang = _lang(language)
    day = value.day
    weekday = _WEEKDAYS[lang][value.weekday()]
    month = _MONTHS[lang][value.month - 1]
    if lang == "es":
        return f"{weekday} {day} de {month} de {value.year}"
    return f"{weekday}, {month} {day}, {value.year}"


def time_in_words(value: time, language: str) -> str:
    """ "13:00 h" / "1:00 PM" (to the minute; Mexico writes 24-hour times, the US 12-hour)."""
    if _lang(language) == "es":
        return f"{value.hour}:{value.minute:02d} h"
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"


def datetime_in_words(value: datetime, language: str, zone: tzinfo) -> str:
    """ "martes 15 de diciembre de 2026, 13:00 h (hora del centro)" / "Tuesday, December 15,
    2026, 1:00 PM (Mexico City time)": the instant in `zone`, to the minute."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"a date for people needs an aware datetime, got {value.isoformat()}")
    local = value.astimezone(zone)
    when = time_in_words(local.time(), language)
    return f"{date_in_words(local.date(), language)}, {when} ({zone_in_words(zone, language)})"


def _day_span(days: list[int], lang: str) -> str:
    """[0..4] -> "lunes a viernes"; [0, 2, 4] -> "lunes, miércoles y viernes"."""
    names = _WEEKDAYS[lang]
    if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
        return f"{names[days[0]]} {'a' if lang == 'es' else 'to'} {names[days[-1]]}"
    words = [names[d] for d in days]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {'y' if lang == 'es' else 'and'} {words[-1]}"


def hours_in_words(
    workdays: Iterable[int], open_at: time, close_at: time, language: str, zone: tzinfo
) -> str:
    """Business hours for a sentence: "lunes a viernes de 8:30 a 19:00 h (hora del centro)" /
    "Monday to Friday, 8:30 AM to 7:00 PM (Mexico City time)". `workdays` are
    `date.weekday()` numbers."""
    lang = _lang(language)
    days = _day_span(sorted(set(workdays)), lang)
    zone_words = zone_in_words(zone, lang)
    if lang == "es":
        opening = time_in_words(open_at, lang).removesuffix(" h")
        return f"{days} de {opening} a {time_in_words(close_at, lang)} ({zone_words})"
    opening, closing = time_in_words(open_at, lang), time_in_words(close_at, lang)
    return f"{days}, {opening} to {closing} ({zone_words})"


def round_the_clock_in_words(language: str) -> str:
    """What a 7x24 policy's hours are (P9), in the same place business hours would go."""
    if _lang(language) == "es":
        return "las 24 horas, los 7 días de la semana (24×7)"
    return "24 hours a day, 7 days a week (24×7)"
