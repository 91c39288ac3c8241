"""`maildesk sla report`: where open tickets stand against their SLA (P8) and how the tickets
resolved in a period did. Read-only; statuses come from `domain.sla.sla_status` on each
customer's calendar (P9: 7x24 customers count wall-clock hours), never re-derived here."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from maildesk.domain.sla import PRIORITIES, TYPES, SlaStatus, sla_status
from maildesk.store.models import Customer, Ticket

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
            Ticket.created_at,
            Ticket.sla_due_at,
            Customer.policy,
        )
        .join(Customer, Ticket.customer_id == Customer.id)
        .where(Ticket.state == "open")
        .order_by(Ticket.number)
    )
    warn_at = app.cfg.escalation.warn_at
    cells: dict[tuple[str, str], Counter[str]] = {}
    totals: Counter[str] = Counter()
    breached: list[int] = []
    for number, type_, priority, created_at, due_at, policy in rows:
        status = sla_status(app.calendar_for(policy), created_at, due_at, now, warn_at).value
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


def _resolved_section(s: Any, since: datetime, now: datetime) -> dict[str, Any]:
    """Tickets resolved in [since, now] (closed ones included: they were resolved first)."""
    rows = s.execute(
        select(Ticket.type, Ticket.priority, Ticket.resolved_at, Ticket.sla_due_at).where(
            Ticket.resolved_at >= since, Ticket.resolved_at <= now
        )
    )
    cells: dict[tuple[str, str], Counter[str]] = {}
    for type_, priority, resolved_at, due_at in rows:
        outcome = "no_sla" if due_at is None else "on_time" if resolved_at <= due_at else "late"
        cells.setdefault((type_, priority), Counter())[outcome] += 1

    def figures(c: Counter[str]) -> dict[str, Any]:
        with_sla = c["on_time"] + c["late"]
        return {
            "total": with_sla + c["no_sla"],
            "with_sla": with_sla,
            "on_time": c["on_time"],
            "late": c["late"],
            "no_sla": c["no_sla"],
            "compliance_pct": _pct(c["on_time"], with_sla),
        }

    overall = sum(cells.values(), Counter())
    return figures(overall) | {
        "by_type_priority": [
            {"type": k[0], "priority": k[1]} | figures(c)
            for k, c in sorted(cells.items(), key=lambda kv: _order(kv[0]))
        ]
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
            "resolved": _resolved_section(s, since, now),
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
    return "\n".join(out)
