"""`#new customer@example.com`: an agent opens a ticket on behalf of a customer (P14).

Calls and chats need a ticket first; the agent writes the request down in a mail to the
support address and the customer receives the acknowledgement with the number to quote.
The same rules as for the customer's own mail apply: registered, active and eligible (P1, P3).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.outbound.notices import queue_mail
from maildesk.pipeline.records import store_message
from maildesk.pipeline.tell import queue_unsupported_version
from maildesk.pipeline.tickets import add_event, new_ticket, pick_product, unsupported_version
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Agent, Contact, Ticket


def find_eligible_contact(s: Session, address: str, today: date) -> tuple[Contact | None, str]:
    """The contact a ticket may be opened for, or (None, why not)."""
    contact = s.scalar(select(Contact).where(func.lower(Contact.email) == address.lower()))
    if contact is None or not contact.active or not contact.customer.active:
        return None, f"{address} is not a registered customer contact (P3)"
    until = contact.customer.support_until
    if until is not None and until < today:
        return None, f"the contract of {contact.customer.name} ended on {until} (P1)"
    return contact, ""


def open_on_behalf(u: Unit, agent: Agent, contact: Contact, body: str) -> Ticket:
    """Open the ticket, store the agent's text as its first message, assign it to the agent,
    and acknowledge to the customer. Agents are not notified: the author already knows."""
    s, msg, now = u.s, u.msg, u.now
    product = pick_product(contact.customer, f"{msg.subject}\n{body}")
    t = new_ticket(s, u.app, contact, msg.subject, product, now, assignee=agent)
    add_event(s, t, now, "created", agent.email, rule="P14", on_behalf_of=contact.email)
    add_event(s, t, now, "assigned", agent.email, **{"from": None, "to": agent.email})
    # The request as the agent wrote it: public (it is the ticket's description, and part of
    # the transcript), kind "agent" because the customer did not write these words.
    store_message(u, t, "agent", public=True, body=body)
    supported = unsupported_version(s, t, now)
    queue_mail(
        s,
        u.app,
        template="acknowledgement",
        to=contact.email,
        now=now,
        ticket=t,
        auto_submitted="auto-generated",
        recipient_name=contact.name,
        context={"missing_phone": not contact.phone},
    )
    if supported is not None:
        queue_unsupported_version(u, t, contact, supported, auto_submitted="auto-generated")
    return t
