"""Eight weeks of support desk, played through the real pipeline for the report tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from maildesk.app import App
from maildesk.pipeline.accept import accept
from maildesk.store.models import Ticket
from tests.helpers import make_mail

#: Monday 2026-10-05 15:00 UTC (09:00 in Mexico City); the desk runs for eight weeks.
START = datetime(2026, 10, 5, 15, 0, tzinfo=UTC)
END = START + timedelta(weeks=8)
CUSTOMERS = ("ana@acme.example", "luis@acme.example", "gina@globex.example")
AGENTS = ("agente1@support.example", "agente2@support.example")
PRIORITIES = ("urgente", "alta", "media", "baja")


def play_desk(app: App, tickets: int = 30) -> list[int]:
    """Customers write over eight weeks; agents classify, answer and resolve most of them
    (some within their SLA, some late); a few stay open. Returns the ticket numbers."""
    numbers: list[int] = []
    for i in range(tickets):
        at = START + timedelta(hours=37 * i)
        sender = CUSTOMERS[i % len(CUSTOMERS)]
        outcome = accept(app, make_mail(sender=sender, subject=f"Caso {i}"), "test", now=at)
        assert outcome.ticket_number is not None, outcome
        number = outcome.ticket_number
        numbers.append(number)
        agent = AGENTS[i % len(AGENTS)]
        priority = PRIORITIES[i % len(PRIORITIES)]
        answer_at = at + timedelta(hours=1 + (i % 5) * 3)
        body = f"#priority {priority}\n#assign {agent}\nEstamos revisando.\n"
        accept(app, make_mail(sender=agent, subject=f"Re: [BITAM #{number}] Caso {i}", body=body),
               "test", now=answer_at)  # fmt: skip
        if i % 6 == 5:
            continue  # stays open
        resolve_at = answer_at + timedelta(hours=2 + (i % 7) * 9)
        body = "#resolve\nQuedó corregido.\n"
        accept(app, make_mail(sender=agent, subject=f"Re: [BITAM #{number}] Caso {i}", body=body),
               "test", now=resolve_at)  # fmt: skip
    return numbers


def states(app: App) -> dict[str, int]:
    with app.db.transaction() as s:
        out: dict[str, int] = {}
        for state in s.scalars(select(Ticket.state)):
            out[state] = out.get(state, 0) + 1
        return out
