"""The report as one self-contained HTML page, and as plain text (the digest's text part).

Self-contained: styles inline, each chart an SVG `data:` image in the page (or, in the
digest, a `cid:` reference to a PNG part of the same mail); nothing is fetched when the page
is opened, so it can be mailed, archived and read offline.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from maildesk.report import charts as chartlib
from maildesk.report.charts import HEIGHT_PX, WIDTH_PX, Chart
from maildesk.report.data import ReportData, Summary

WORDS = {
    "es": {
        "title": "Informe de soporte",
        "opened": "abiertos",
        "resolved": "resueltos",
        "closed": "cerrados",
        "open": "abiertos",
        "open_now": "abiertos ahora",
        "compliance": "cumplimiento del SLA",
        "median_first_response": "primera respuesta (mediana)",
        "median_resolution": "resolución (mediana)",
        "per_agent": "Por agente",
        "per_customer": "Por cliente",
        "name": "nombre",
        "tickets": "tickets",
        "business_hours": "horas hábiles",
        "no_data": "sin datos en el periodo",
        "no_charts": "Las gráficas no se dibujaron:",
        "chart_weekly": "Tickets abiertos, resueltos y cerrados por semana",
        "chart_backlog": "Pendientes por estado (al final de cada semana)",
        "chart_sla": "Cumplimiento del SLA por prioridad (%, tickets resueltos en la semana)",
        "chart_first_response": "Tiempo a la primera respuesta (horas hábiles)",
        "chart_resolution": "Tiempo de resolución (horas hábiles)",
        "footnote": "Tiempos en horas hábiles del calendario de cada cliente. Un ticket "
        "resuelto antes de su vencimiento cuenta como cumplido.",
        "subject": "Resumen semanal de soporte",
        "to": "al",
    },
    "en": {
        "title": "Support report",
        "opened": "opened",
        "resolved": "resolved",
        "closed": "closed",
        "open": "open",
        "open_now": "open now",
        "compliance": "SLA compliance",
        "median_first_response": "first response (median)",
        "median_resolution": "resolution (median)",
        "per_agent": "Per agent",
        "per_customer": "Per customer",
        "name": "name",
        "tickets": "tickets",
        "business_hours": "business hours",
        "no_data": "no data in the period",
        "no_charts": "Charts were not drawn:",
        "chart_weekly": "Tickets opened, resolved and closed per week",
        "chart_backlog": "Backlog by state (at each week's end)",
        "chart_sla": "SLA compliance by priority (%, tickets resolved in the week)",
        "chart_first_response": "Time to first response (business hours)",
        "chart_resolution": "Resolution time (business hours)",
        "footnote": "Times in business hours of each customer's calendar. A ticket resolved "
        "before its due time counts as met.",
        "subject": "Weekly support summary",
        "to": "to",
    },
}

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} %"


def hours(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} h"


def period_text(data: ReportData, lang: str) -> str:
    """'2026-11-01 to 2026-11-30': the first and last days covered, in the support zone
    (`until` is exclusive: midnight after the last day)."""
    tz = ZoneInfo(data.timezone)
    first = data.since.astimezone(tz).date()
    last = (data.until.astimezone(tz) - timedelta(microseconds=1)).date()
    return f"{first.isoformat()} {WORDS[lang]['to']} {max(first, last).isoformat()}"


def html(
    data: ReportData,
    charts: list[Chart],
    lang: str = "es",
    *,
    src: Callable[[Chart], str] | None = None,
) -> str:
    """The page. `src` gives each chart's image address: SVG data URIs by default (the
    digest passes `cid:` references to its PNG parts)."""
    return _ENV.get_template("page.html").render(
        lang=lang,
        w=WORDS[lang],
        data=data,
        charts=charts,
        missing=chartlib.MISSING if not charts else "",
        period=period_text(data, lang),
        src=src or svg_data_uri,
        width=WIDTH_PX,
        height=HEIGHT_PX,
        pct=pct,
        hours=hours,
    )


def svg_data_uri(chart: Chart) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(chart.svg).decode("ascii")


def _table(title: str, groups: list[Summary], w: dict[str, str]) -> list[str]:
    head = (w["name"], w["opened"], w["resolved"], w["open_now"], "SLA", "1st resp", "resol.")
    rows = [
        (
            g.name,
            str(g.opened),
            str(g.resolved),
            str(g.open_now),
            pct(g.compliance),
            hours(g.median_first_response),
            hours(g.median_resolution),
        )
        for g in groups
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    widths[0] = min(widths[0], 40)
    lines = ["", title, ""]
    for r in [head, *rows]:
        cells = [r[0][:40].ljust(widths[0])] + [
            c.rjust(n) for c, n in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def text(data: ReportData, lang: str = "es") -> str:
    """The plain-text summary: the headline figures, the weeks, and the two tables."""
    w = WORDS[lang]
    t = data.totals
    lines = [
        f"{w['title']}: {period_text(data, lang)} ({data.timezone})",
        "",
        f"{w['opened']}: {t.opened}   {w['resolved']}: {t.resolved}   "
        f"{w['open_now']}: {t.open_now}",
        f"{w['compliance']}: {pct(t.compliance)}",
        f"{w['median_first_response']}: {hours(t.median_first_response)}   "
        f"{w['median_resolution']}: {hours(t.median_resolution)}",
        "",
        f"{'':10}  {w['opened']:>10}  {w['resolved']:>10}  {w['closed']:>10}",
    ]
    for week in data.weeks:
        counts = f"{week.opened:>10}  {week.resolved:>10}  {week.closed:>10}"
        lines.append(f"{week.start.isoformat():10}  {counts}")
    lines += _table(w["per_agent"], data.agents, w)
    lines += _table(w["per_customer"], data.customers, w)
    return "\n".join(lines) + "\n"
