"""Participants from a customer's mail (SPEC §10): who else it was written to, and what they
become on its ticket. A shared writer below the handlers (customer mail, agent commands).

One customer mail: the To/Cc addresses that are not the sender, the requester, staff or the
support address are looked up in one statement (none when there are none); the registered,
active contacts of the ticket's customer become participants (mailed in Cc), every other
address is recorded for agents and never mailed (P3). Each change of standing is an event.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert

from maildesk.domain.participants import Standing, others, settle, standing_of
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Event, Ticket
from maildesk.store.participants import Entry, carry_over, lookup, write

_INSERT_EVENT = insert(Event)


@dataclass(frozen=True, slots=True)
class Seen:
    """An address of one mail's To/Cc with its standing on the ticket after that mail."""

    address: str
    standing: Standing
    name: str = ""

    @property
    def mailed(self) -> bool:
        return self.standing.mailed


def copied_on(u: Unit, t: Ticket) -> tuple[Seen, ...]:
    """Record the mail's other To/Cc addresses on `t`; what each one is on it now."""
    msg, app = u.msg, u.app
    sender, requester = msg.from_addr, t.requester.email

    def skip(a: str) -> bool:
        return a in (sender, requester) or app.is_staff(a)

    addresses = others(msg.to + msg.cc, skip)
    if not addresses:
        return ()
    known, stored = lookup(u.s, t.number, addresses)
    seen, changes = [], []
    for address in addresses:
        facts = known.get(address)
        was = Standing(stored[address]) if address in stored else None
        owner, active = (facts.customer_id, facts.active) if facts else (None, False)
        standing = settle(standing_of(owner, active, t.customer_id), was)
        # Another customer's contact is linked to nothing here, and never named by their
        # registry name: agents see the address the customer wrote, nothing else (R8).
        ours = facts if standing is not Standing.OTHER_CUSTOMER else None
        seen.append(Seen(address, standing, ours.name if ours else ""))
        if was is not standing:
            contact = ours.contact_id if ours else None
            changes.append(Entry(address, standing.value, contact, sender))
    if changes:
        write(u.s, t.number, changes, u.now, known=set(stored))
        _events(u, t, changes, via="mail")
    return tuple(seen)


def _events(u: Unit, t: Ticket, changes: list[Entry], *, via: str) -> None:
    rows = [
        {
            "ticket_number": t.number,
            "contact_id": None,
            "at": u.now,
            "kind": "participant",
            "actor": e.actor,
            "detail": {"address": e.email, "standing": e.standing, "via": via},
        }
        for e in changes
    ]
    u.s.connection().execute(_INSERT_EVENT, rows)


def inherit(u: Unit, t: Ticket, previous: int) -> None:
    """Ticket `t` takes the participants of ticket `previous` it does not have yet, with an
    event. P11: a follow-up ticket keeps the closed one's colleagues (they were following
    the problem that came back). `#merge N` (SPEC §10) calls it as `inherit(u, N's ticket,
    merged number)` before closing the merged ticket, so everyone copied on either ticket
    follows the one that goes on; the merged ticket's rows stay as its history."""
    added = carry_over(u.s, previous, t.number, u.now, "system")
    if added:
        u.s.connection().execute(
            _INSERT_EVENT,
            {
                "ticket_number": t.number,
                "contact_id": None,
                "at": u.now,
                "kind": "participants_carried",
                "actor": "system",
                "detail": {"from": previous, "addresses": added},
            },
        )


def cc_pairs(seen: tuple[Seen, ...]) -> list[tuple[str, str]]:
    """(name, address) of the mailed ones, for a mail's Cc."""
    return [(x.name, x.address) for x in seen if x.mailed]
