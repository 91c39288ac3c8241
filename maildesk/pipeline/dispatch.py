"""Decision → handler: the only writer for inbound mail, inside the caller's transaction.

Ticket, message, attachment, event and outbox rows are all written by the handler the
routing action names, in ONE transaction, so a crash leaves all of it or none of it
(transactional outbox). The table is data, like `route.CHAIN`: handlers never import one
another; what they share (records, notices, tickets) sits below them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import joinedload

from maildesk.pipeline import customer
from maildesk.pipeline.agent import handle_agent_mail
from maildesk.pipeline.committee import handle_committee_mail
from maildesk.pipeline.outcome import Outcome
from maildesk.pipeline.route import Action
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Ticket

Handler = Callable[[Unit, Ticket | None], Outcome]

# Every action but DUPLICATE (R1), which `accept` answers before any write.
HANDLERS: dict[Action, Handler] = {
    Action.BOUNCE_ON_TICKET: customer.bounce,
    Action.AUTO_ON_TICKET: customer.auto_reply,
    Action.IGNORE: customer.ignore,
    Action.AGENT_MAIL: handle_agent_mail,
    Action.COMMITTEE_MAIL: handle_committee_mail,
    Action.REJECT: customer.reject,
    Action.FOLLOW_UP: customer.follow_up,
    Action.REOPEN: customer.reopen,
    Action.CONFIRM: customer.confirm,
    Action.NEW_TICKET: customer.open_ticket,
}

# What notices and notifications read of a ticket, loaded with it in one SELECT.
_WITH_PEOPLE = (
    joinedload(Ticket.customer),
    joinedload(Ticket.requester),
    joinedload(Ticket.assignee),
)


def apply_decision(u: Unit) -> Outcome:
    """Write what the unit's decision says; returns the one outcome of this message. The
    ticket the decision names is loaded here, once, with the people its mails address."""
    number = u.decision.ticket
    ticket = u.s.get(Ticket, number, options=_WITH_PEOPLE) if number else None
    return HANDLERS[u.decision.action](u, ticket)
