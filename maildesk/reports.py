"""`maildesk sla report`: where open tickets stand against their SLA (P8), how the SLA clocks
that ended in a period did, and first-response beside resolution times (p50/p90) by type ×
priority. Read-only; statuses come from `domain.sla.sla_status` on each customer's calendar
(P9: 7x24 customers count wall-clock hours), never re-derived here.

SPEC §10, reopening: a reopened ticket's current clock runs from the reopening
(`reopened_at`), so its status is measured against that clock; compliance reads the
`resolutions` ledger, where a resolution on time stays on time whatever happened later.

Rule ids: docs/rules.md."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from maildesk.domain.lifecycle import State
from maildesk.domain.sla import PRIORITIES, TYPES, SlaStatus, sla_due_at, sla_status
from maildesk.store.models import Customer, Resolution, Ticket

if TYPE_CHECKING:
    from maildesk.app import App

__all__ = ["DEFAULT_PERIOD", "format_report", "sla_report"]

#: Compliance period when no --since is given.
DEFAULT_PERIOD = timedelta(days=30)
_STATUSES = [s.value for s in SlaStatus]  # none, ok, warning, breached


def _order(key: tuple[str, str]) -> tuple[int, int, str, str]:
    """Rows in the policy's order: types as P7 lists them, urgente first."""
    type_, priority = key
    t = TYPES.index(type_) if type_ in TYPES else len(TYPES)
    p = PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)
    return t, p, type_, priority


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _open_section(app: App, s: Any, now: datetime) -> dict[str, Any]:
    rows = s.execute(
        select(
            Ticket.number,
            Ticket.type,
            Ticket.priority,
            func.coalesce(Ticket.reopened_at, Ticket.created_at),  # the clock's start
            Ticket.sla_due_at,
            Customer.policy,
        )
        .join(Customer, Ticket.customer_id == Customer.id)
        .where(Ticket.state == State.OPEN)
        .order_by(Ticket.number)
    )
    warn_at = app.cfg.escalation.warn_at
    cells: dict[tuple[str, str], Counter[str]] = {}
    totals: Counter[str] = Counter()
    breached: list[int] = []
    for number, type_, priority, started, due_at, policy in rows:
        status = sla_status(app.calendar_for(policy), started, due_at, now, warn_at).value
        totals[status] += 1
        cells.setdefault((type_, priority), Counter())[status] += 1
        if status == SlaStatus.BREACHED:
            breached.append(number)
    return {
        "total": sum(totals.values()),
        "by_status": {k: totals[k] for k in _STATUSES},
        "by_type_priority": [
            {"type": k[0], "priority": k[1], "total": sum(c.values())}
            | {st: c[st] for st in _STATUSES}
            for k, c in sorted(cells.items(), key=lambda kv: _order(kv[0]))
        ],
        "breached_tickets": breached,
    }


def percentile(values: Sequence[float], share: float) -> float | None:
    """The `share` quantile (0.5: the median) by linear interpolation between closest ranks
    (the "inclusive" method: p50 of [1, 2] is 1.5, p90 of one value is that value)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * share
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _times(hours: Sequence[float]) -> dict[str, Any]:
    """p50/p90 of a list of business hours, rounded for people (JSON keeps 0.01 h)."""
    p50, p90 = percentile(hours, 0.5), percentile(hours, 0.9)
    return {
        "count": len(hours),
        "p50_hours": None if p50 is None else round(p50, 2),
        "p90_hours": None if p90 is None else round(p90, 2),
    }


def _resolved_section(app: App, s: Any, since: datetime, now: datetime) -> dict[str, Any]:
    """SLA clocks that ended in [since, now] (the `resolutions` ledger): a ticket resolved,
    reopened and resolved again counts once per clock, and a resolution on time stays on
    time whatever happened later (SPEC §10). Resolution time runs from the clock's start
    (the creation, or the reopening) in business hours on the customer's calendar."""
    rows = s.execute(
        select(
            Resolution.type,
            Resolution.priority,
            Resolution.clock_started_at,
            Resolution.resolved_at,
            Resolution.sla_due_at,
            Customer.policy,
        )
        .join(Ticket, Ticket.number == Resolution.ticket_number)
        .join(Customer, Ticket.customer_id == Customer.id)
        .where(Resolution.resolved_at >= since, Resolution.resolved_at <= now)
    )
    cells: dict[tuple[str, str], Counter[str]] = {}
    hours: dict[tuple[str, str], list[float]] = {}
    for type_, priority, started, resolved_at, due_at, policy in rows:
        outcome = "no_sla" if due_at is None else "on_time" if resolved_at <= due_at else "late"
        cells.setdefault((type_, priority), Counter())[outcome] += 1
        spent = app.calendar_for(policy).business_hours_between(started, resolved_at)
        hours.setdefault((type_, priority), []).append(spent)

    def figures(c: Counter[str], spent: list[float]) -> dict[str, Any]:
        with_sla = c["on_time"] + c["late"]
        return {
            "total": with_sla + c["no_sla"],
            "with_sla": with_sla,
            "on_time": c["on_time"],
            "late": c["late"],
            "no_sla": c["no_sla"],
            "compliance_pct": _pct(c["on_time"], with_sla),
            "resolution_time": _times(spent),
        }

    overall = sum(cells.values(), Counter())
    return figures(overall, [h for v in hours.values() for h in v]) | {
        "by_type_priority": [
            {"type": k[0], "priority": k[1]} | figures(c, hours[k])
            for k, c in sorted(cells.items(), key=lambda kv: _order(kv[0]))
        ]
    }


def _first_response_section(app: App, s: Any, since: datetime, now: datetime) -> dict[str, Any]:
    """Tickets opened in [since, now]: how long until the first public agent answer
    (`first_response_at`), in business hours on the customer's calendar, by the ticket's
    type × priority. With `[sla] first_response_hours` configured, a ticket counts as met
    when answered by its target and late when answered after it or still waiting past it."""
    rows = s.execute(
        select(
            Ticket.type,
            Ticket.priority,
            Ticket.created_at,
            Ticket.first_response_at,
            Customer.policy,
        )
        .join(Customer, Ticket.customer_id == Customer.id)
        .where(Ticket.created_at >= since, Ticket.created_at <= now)
    )
    targets = app.cfg.sla.get("first_response_hours", {})
    cells: dict[tuple[str, str], Counter[str]] = {}
    hours: dict[tuple[str, str], list[float]] = {}
    for type_, priority, created, answered, policy in rows:
        cal = app.calendar_for(policy)
        c = cells.setdefault((type_, priority), Counter())
        c["opened"] += 1
        spent = hours.setdefault((type_, priority), [])
        if answered is not None:
            spent.append(cal.business_hours_between(created, answered))
        else:
            c["waiting"] += 1
        target = sla_due_at(cal, created, targets, type_, priority) if targets else None
        if target is None:
            continue
        if answered is not None:
            c["met" if answered <= target else "late"] += 1
        elif now > target:
            c["late"] += 1

    def figures(c: Counter[str], spent: list[float]) -> dict[str, Any]:
        out = {"opened": c["opened"], "waiting": c["waiting"]} | _times(spent)
        if targets:
            judged = c["met"] + c["late"]
            out |= {"met": c["met"], "late": c["late"], "met_pct": _pct(c["met"], judged)}
        return out

    overall = sum(cells.values(), Counter())
    return figures(overall, [h for v in hours.values() for h in v]) | {
        "target_configured": bool(targets),
        "by_type_priority": [
            {"type": k[0], "priority": k[1]} | figures(c, hours[k])
            for k, c in sorted(cells.items(), key=lambda kv: _order(kv[0]))
        ],
    }


def sla_report(app: App, now: datetime, since: datetime | None = None) -> dict[str, Any]:
    """The report as plain JSON-ready data; compliance covers `since` (default 30 days
    before `now`) to `now`."""
    since = since or now - DEFAULT_PERIOD
    tz = app.calendar.tz
    with app.db.transaction() as s:
        return {
            "now": now.astimezone(tz).isoformat(),
            "since": since.astimezone(tz).isoformat(),
            "timezone": app.calendar.timezone,
            "warn_at": app.cfg.escalation.warn_at,
            "open": _open_section(app, s, now),
            "resolved": _resolved_section(app, s, since, now),
            "first_response": _first_response_section(app, s, since, now),
        }


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = [
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    for r in rows:
        lines.append(
            "  ".join(
                v.ljust(w) if i < 2 else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return ["  " + line.rstrip() for line in lines]


def _pct_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def format_report(report: dict[str, Any]) -> str:
    """A readable text version of `sla_report` for the terminal."""
    o, r = report["open"], report["resolved"]
    stamp = report["now"][:16].replace("T", " ")
    since = report["since"][:16].replace("T", " ")
    st = o["by_status"]
    out = [
        f"SLA report as of {stamp} ({report['timezone']})",
        "",
        f"Open tickets: {o['total']}  (ok {st['ok']}, warning {st['warning']}, "
        f"breached {st['breached']}, no SLA {st['none']})",
    ]
    if o["by_type_priority"]:
        out += _table(
            ["TYPE", "PRIORITY", "OK", "WARNING", "BREACHED", "NO SLA", "TOTAL"],
            [
                [c["type"], c["priority"]]
                + [str(c[k]) for k in ("ok", "warning", "breached", "none", "total")]
                for c in o["by_type_priority"]
            ],
        )
    if o["breached_tickets"]:
        out.append("  breached: " + ", ".join(f"#{n}" for n in o["breached_tickets"]))
    out += [
        "",
        f"Resolved since {since}: {r['total']}  (with SLA {r['with_sla']}: on time "
        f"{r['on_time']}, late {r['late']}, compliance {_pct_text(r['compliance_pct'])}; "
        f"no SLA {r['no_sla']})",
    ]
    if r["by_type_priority"]:
        out += _table(
            ["TYPE", "PRIORITY", "ON TIME", "LATE", "NO SLA", "COMPLIANCE"],
            [
                [
                    c["type"],
                    c["priority"],
                    str(c["on_time"]),
                    str(c["late"]),
                    str(c["no_sla"]),
                    _pct_text(c["compliance_pct"]),
                ]
                for c in r["by_type_priority"]
            ],
        )
    return "\n".join(out + _times_lines(report))


def _hours_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _times_lines(report: dict[str, Any]) -> list[str]:
    """First response (tickets opened since) beside resolution (clocks ended since)."""
    f, r = report["first_response"], report["resolved"]
    since = report["since"][:16].replace("T", " ")
    firsts = {(c["type"], c["priority"]): c for c in f["by_type_priority"]}
    ends = {(c["type"], c["priority"]): c["resolution_time"] for c in r["by_type_priority"]}
    keys = sorted(set(firsts) | set(ends), key=_order)
    met = f", first response on target {_pct_text(f['met_pct'])}" if f["target_configured"] else ""
    out = [
        "",
        f"Times in business hours since {since}: first response p50 "
        f"{_hours_text(f['p50_hours'])}, p90 {_hours_text(f['p90_hours'])} "
        f"({f['count']} answered, {f['waiting']} waiting{met}); resolution p50 "
        f"{_hours_text(r['resolution_time']['p50_hours'])}, p90 "
        f"{_hours_text(r['resolution_time']['p90_hours'])}",
    ]
    if not keys:
        return out
    empty = {"count": 0, "p50_hours": None, "p90_hours": None, "waiting": 0}
    rows = []
    for key in keys:
        first, end = firsts.get(key, empty), ends.get(key, empty)
        rows.append(
            [key[0], key[1], str(first["count"]), str(first["waiting"])]
            + [_hours_text(first[k]) for k in ("p50_hours", "p90_hours")]
            + [str(end["count"])]
            + [_hours_text(end[k]) for k in ("p50_hours", "p90_hours")]
        )
    header = ["TYPE", "PRIORITY", "ANSWERED", "WAITING", "FIRST P50", "FIRST P90"]
    return out + _table([*header, "RESOLVED", "RES. P50", "RES. P90"], rows)
