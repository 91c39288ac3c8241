"""`#new customer@example.com`: an agent opens a ticket on behalf of a customer (P14).

Calls and chats need a ticket first; the agent writes the request down in a mail to the
support address and the customer receives the acknowledgement with the number to quote.
The same rules as for the customer's own mail apply: registered, active and eligible (P1, P3).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maildesk.mail.inbound import Inbound
from maildesk.mail.refs import clean_subject
from maildesk.outbound.notices import queue_mail
from maildesk.pipeline.tickets import add_event, assign, recompute_sla
from maildesk.store.models import Agent, Contact, Customer, Product, Ticket

if TYPE_CHECKING:
    from maildesk.app import App


def find_eligible_contact(s: Session, address: str, today: date) -> tuple[Contact | None, str]:
    """The contact a ticket may be opened for, or (None, why not)."""
    contact = s.scalar(select(Contact).where(func.lower(Contact.email) == address.lower()))
    if contact is None or not contact.active or not contact.customer.active:
        return None, f"{address} is not a registered customer contact (P3)"
    until = contact.customer.support_until
    if until is not None and until < today:
        return None, f"the contract of {contact.customer.name} ended on {until} (P1)"
    return contact, ""


def open_on_behalf(
    s: Session,
    app: App,
    msg: Inbound,
    raw_sha: str,
    agent: Agent,
    contact: Contact,
    body: str,
    now: datetime,
) -> Ticket:
    """Open the ticket, store the agent's text as its first message, assign it to the agent,
    and acknowledge to the customer. Agents are not notified: the author already knows."""
    from maildesk.pipeline.apply import store_message

    customer: Customer = contact.customer
    products = customer.products or []
    product = products[0]["name"] if len(products) == 1 else None
    version = (products[0].get("version") or None) if product else None
    t = Ticket(
        subject=clean_subject(msg.subject, app.cfg.support.subject_prefix)[:998] or "(no subject)",
        customer=customer,
        requester=contact,
        product=product,
        product_version=version,
        type=app.cfg.support.default_type,
        priority=app.cfg.support.default_priority,
        unclassified=True,
        state="open",
        created_at=now,
        updated_at=now,
        type_set_at=now,
    )
    recompute_sla(app, t)
    s.add(t)
    s.flush()
    add_event(s, t, now, "created", agent.email, rule="P14", on_behalf_of=contact.email)
    # The request as the agent wrote it: public (it is the ticket's description, and part of
    # the transcript), kind "agent" because the customer did not write these words.
    store_message(s, replace(msg, new_content=body), raw_sha, t, now, "agent", public=True)
    assign(s, t, agent, now, agent.email)
    catalogue = s.get(Product, product) if product else None
    supported = catalogue.supported_versions if catalogue else []
    if version and catalogue and version not in supported:
        t.unsupported_version = True
        add_event(s, t, now, "unsupported_version", version=version, supported=supported)
    queue_mail(
        s,
        app,
        template="acknowledgement",
        to=contact.email,
        now=now,
        ticket=t,
        auto_submitted="auto-generated",
        recipient_name=contact.name,
        context={"missing_phone": not contact.phone},
    )
    if t.unsupported_version:
        queue_mail(
            s,
            app,
            template="unsupported_version",
            to=contact.email,
            now=now,
            ticket=t,
            auto_submitted="auto-generated",
            recipient_name=contact.name,
            context={"version": version, "supported_versions": supported},
        )
    return t
