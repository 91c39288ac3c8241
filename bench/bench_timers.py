"""Timer sweep benchmark (SPEC §9): N tickets of which 1 % are due; one sweep's time.

Reports, side by side in one run, the candidate-selection cost (the indexed queries alone)
and the full sweep (actions, notices, T5 into a maildir), so the two can be compared as N
grows: selection should stay flat when due tickets are fixed, and the sweep grow with them.

    .venv/bin/python bench/bench_timers.py --tickets 1000000 [--db-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from maildesk.app import App
from maildesk.config import config_from_dict
from maildesk.store.db import Database
from maildesk.store.models import Contact, Customer, Ticket
from maildesk.timers import TIMERS, run_timers

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def populate(app: App, n: int, due_share: float) -> dict[str, int]:
    """Closed history, recent not-yet-due work, and `due_share` of tickets due for T1–T4."""
    with app.db.transaction() as s:
        s.execute(insert(Customer), [{"id": "acme", "name": "ACME", "policy": "standard"}])
        s.execute(insert(Contact), [{"id": 1, "email": "ana@acme.example", "customer_id": "acme"}])
    due = int(n * due_share)
    plan = {"T1": due * 4 // 10, "T2": due * 2 // 10, "T3": due // 10}
    plan["T4"] = due - sum(plan.values())
    base = {
        "subject": "bench",
        "customer_id": "acme",
        "requester_id": 1,
        "priority": "media",
        "unclassified": False,
        "sla_warned": True,
        "sla_breached": True,
        "feature_reminders_sent": 0,
        "unsupported_version": False,
    }
    old = NOW - timedelta(days=400)

    def row(i: int) -> dict:
        r = dict(
            base,
            type="soporte",
            state="closed",
            created_at=old,
            updated_at=old,
            type_set_at=old,
            resolved_at=old,
            closed_at=old,
        )
        return r

    made = {"T1": 0, "T2": 0, "T3": 0, "T4": 0}
    batch: list[dict] = []
    for i in range(n):
        r = row(i)
        kind = i % 100
        if kind == 0:  # the 1 %: spread across the timers
            for timer, want in plan.items():
                if made[timer] < want:
                    made[timer] += 1
                    break
            else:
                timer = ""
            if timer == "T1":
                r.update(state="resolved", closed_at=None, resolved_at=NOW - timedelta(days=30))
            elif timer == "T2":
                r.update(
                    state="open",
                    closed_at=None,
                    resolved_at=None,
                    last_customer_at=NOW - timedelta(days=40),
                    last_agent_public_at=NOW - timedelta(days=35),
                    sla_due_at=None,
                )
            elif timer == "T3":
                r.update(
                    state="open",
                    closed_at=None,
                    resolved_at=None,
                    type="nuevo_requerimiento",
                    type_set_at=NOW - timedelta(days=9),
                )
            elif timer == "T4":
                r.update(
                    state="open",
                    closed_at=None,
                    resolved_at=None,
                    created_at=NOW - timedelta(days=3),
                    sla_due_at=NOW - timedelta(hours=1),
                    sla_warn_at=NOW - timedelta(hours=10),
                    sla_warned=True,
                    sla_breached=False,
                )
        elif kind in (1, 2):  # recent, not due: open with SLA ahead, resolved yesterday
            if kind == 1:
                r.update(
                    state="open",
                    closed_at=None,
                    resolved_at=None,
                    created_at=NOW,
                    sla_due_at=NOW + timedelta(days=5),
                    sla_warn_at=NOW + timedelta(days=4),
                    sla_warned=False,
                    sla_breached=False,
                    last_customer_at=NOW,
                )
            else:
                r.update(state="resolved", closed_at=None, resolved_at=NOW - timedelta(days=1))
        batch.append(r)
        if len(batch) == 20000:
            with app.db.transaction() as s:
                s.execute(insert(Ticket), batch)
            batch = []
    if batch:
        with app.db.transaction() as s:
            s.execute(insert(Ticket), batch)
    return made


def selection_ms(app: App) -> float:
    start = time.perf_counter()
    with app.db.transaction() as s:
        for timer in TIMERS:
            q = select(Ticket.number).where(*timer.where(app, NOW))
            list(s.scalars(q))
    return (time.perf_counter() - start) * 1000


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--due", type=float, default=0.01)
    p.add_argument("--db-url", default="")
    p.add_argument("--selection-only", action="store_true", help="skip the sweeps themselves")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-timers-"))
    url = args.db_url or f"sqlite:///{tmp / 'bench.db'}"
    cfg = config_from_dict(
        {
            "database": {"url": url},
            "inbound": {"mode": "none"},
            "outbound": {"mode": "maildir", "maildir": str(tmp / "outbox")},
            "committee": {"address": "comite@example.com"},
            "escalation": {"supervisors": ["jefe@example.com"]},
            "limits": {"auto_mails_per_recipient_per_day": 10_000_000},
        },
        "bench",
        tmp,
    )
    app = App(cfg, Database(url))
    app.prepare()
    t0 = time.perf_counter()
    made = populate(app, args.tickets, args.due)
    print(f"populated {args.tickets} tickets in {time.perf_counter() - t0:.1f} s; due: {made}")
    print(f"candidate selection, all timers: {selection_ms(app):.1f} ms")
    if args.selection_only:
        return
    dry = time.perf_counter()
    report = run_timers(app, NOW, dry_run=True)
    print(f"dry run: {len(report.actions)} actions in {time.perf_counter() - dry:.2f} s")
    t1 = time.perf_counter()
    report = run_timers(app, NOW)
    sweep = time.perf_counter() - t1
    sent = report.flush.sent if report.flush else 0
    print(
        f"sweep: {len(report.actions)} actions, {sent} mails sent, {len(report.errors)} errors"
        f" in {sweep:.2f} s ({sweep / max(len(report.actions), 1) * 1000:.2f} ms/action)"
    )
    t2 = time.perf_counter()
    again = run_timers(app, NOW + timedelta(minutes=2))
    print(
        f"next sweep (nothing due): {len(again.actions)} actions in "
        f"{time.perf_counter() - t2:.3f} s"
    )


if __name__ == "__main__":
    main()
