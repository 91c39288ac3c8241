"""SPEC §9: the timers find due tickets through partial indexes of open (or resolved)
tickets, so a sweep's cost follows the due tickets, and closing a ticket leaves the closed
history (most of the table) out of those indexes. Checked on both backends' catalogues,
and on SQLite's query plans."""

from __future__ import annotations

import re

from sqlalchemy import select, text

from maildesk.app import App
from maildesk.store.models import Ticket
from maildesk.timers import TIMERS
from tests.helpers import NOW

OPEN = "state = 'open'"
PARTIAL = {
    "ix_tickets_resolved": "state = 'resolved'",
    "ix_tickets_open_sla": OPEN,
    "ix_tickets_open_sla_warn": OPEN,
    "ix_tickets_open_sla_breach": OPEN,
    "ix_tickets_open_assignee": OPEN,
    "ix_tickets_open_agent_public": OPEN,
    "ix_tickets_open_feature_type_set": f"{OPEN} AND type = 'nuevo_requerimiento'",
}


def _index_sql(app: App) -> dict[str, str]:
    with app.db.engine.connect() as conn:
        if app.db.dialect == "sqlite":
            q = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'"
        else:
            q = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets'"
        return {name: sql or "" for name, sql in conn.execute(text(q))}


def test_t1_t4_ticket_indexes_are_partial_after_upgrade(app: App) -> None:
    """The migration builds the partial indexes the models declare (autogenerate's
    comparison does not look at an index's WHERE)."""
    found = _index_sql(app)
    for name, expected in PARTIAL.items():
        where = re.sub(r"[()]", "", found[name].partition("WHERE")[2]).replace("::text", "")
        assert " ".join(where.split()) == expected, (name, found[name])
    old = {"ix_tickets_state_resolved", "ix_tickets_state_type_set", "ix_tickets_sla_breach"}
    assert not old & found.keys()


def test_t1_t4_candidate_queries_search_an_index_never_scan_tickets(app: App) -> None:
    if app.db.dialect != "sqlite":
        return  # PostgreSQL chooses by statistics; the catalogue test above covers it
    with app.db.engine.connect() as conn:
        for timer in TIMERS:
            q = select(Ticket.number).where(*timer.where(app, NOW))
            sql = q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = " | ".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "SEARCH tickets USING" in plan and "SCAN tickets" not in plan, (timer, plan)
