"""Who besides the requester is part of a ticket (SPEC §10 "Participants"), as pure rules.

In: the addresses a customer put in To/Cc (or an agent named in `#cc`), what the registry
says of each, and the ticket's customer. Out: each address's standing on the ticket. Only a
registered, active contact of the ticket's own customer is mailed (in Cc of the ticket's
public mail); anyone else is recorded and shown to agents, never mailed (P3), and another
customer's contact is never added (R8: nothing of a ticket reaches another customer).

No database, clock or network here: the pipeline looks the facts up and writes the rows.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum


class Standing(StrEnum):
    """An address's place on a ticket. Only CC is ever mailed."""

    CC = "cc"  # an active contact of the ticket's customer: the ticket's public mail in Cc
    UNREGISTERED = "unregistered"  # no contact has this address (P3): recorded, never mailed
    OTHER_CUSTOMER = "other_customer"  # another customer's contact (R8): never added
    INACTIVE = "inactive"  # a deactivated contact, or one of a deactivated customer
    REMOVED = "removed"  # an agent's `#cc remove`: no mail until an agent adds it again

    @property
    def mailed(self) -> bool:
        return self is Standing.CC


def standing_of(contact_customer: str | None, active: bool, customer_id: str) -> Standing:
    """The standing an address earns from the registry alone, for a ticket of `customer_id`:
    `contact_customer` is the customer whose contact has this address (None: nobody's),
    `active` whether that contact and its customer are both active."""
    if contact_customer is None:
        return Standing.UNREGISTERED
    if contact_customer != customer_id:
        return Standing.OTHER_CUSTOMER
    return Standing.CC if active else Standing.INACTIVE


def settle(earned: Standing, stored: Standing | None) -> Standing:
    """What a customer's mail makes of an address already on the ticket: an agent's removal
    stands (Cc'ing a colleague again is the customer's habit, removing them was a decision);
    otherwise the registry's word of today wins (a stranger registered since becomes CC)."""
    if stored is Standing.REMOVED:
        return Standing.REMOVED
    return earned


def others(addresses: Iterable[str], skip: Callable[[str], bool]) -> list[str]:
    """The addresses of a mail's To/Cc worth looking up, lower-cased, once each, in order;
    `skip` says which are never participants (the sender, the requester, staff, us)."""
    seen: dict[str, None] = {}
    for address in addresses:
        a = address.strip().lower()
        if a and "@" in a and a not in seen and not skip(a):
            seen[a] = None
    return list(seen)
