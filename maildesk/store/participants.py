"""A ticket's participants as the pipeline writes them and the mail paths and views read them.

- `lookup`: one statement for everything a customer mail's To/Cc needs (the registry's word
  on each address and its standing on the ticket), so the ingest path pays one round trip
  per mail that names others, and none for the rest (SPEC §9: ~600 msg/s).
- `mailed` / `mailed_many`: who gets a ticket's public mail in Cc, checked against the
  registry at send time (a contact deactivated since is no longer mailed, P3).
- `carry_over`: a ticket's participants onto another (a P11 follow-up, a `#merge`).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Boolean, Connection, String, bindparam, cast, literal, null, select
from sqlalchemy import update as core_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from maildesk.store.models import Contact, Customer, Participant, Ticket

#: The one standing that is mailed (`domain.participants.Standing.CC`; the store does not
#: import the domain, and a test keeps the two equal).
CC = "cc"

__all__ = [
    "CC",
    "Entry",
    "Listed",
    "Registered",
    "carry_over",
    "listed",
    "lookup",
    "mailed",
    "mailed_many",
    "write",
]

_ADDRESSES: BindParameter[list[str]] = bindparam("addresses", expanding=True)
_NUMBER: BindParameter[int] = bindparam("number")
_P = Participant.__table__.c
# Built once: constructing a statement costs as much as running it.
_LOOKUP = (
    select(
        literal("c"),
        Contact.email,
        Contact.id,
        Contact.customer_id,
        Contact.active & Customer.active,
        Contact.name,
    )
    .join(Customer, Customer.id == Contact.customer_id)
    .where(Contact.email.in_(_ADDRESSES))
    .union_all(
        select(
            literal("p"),
            _P.email,
            _P.contact_id,
            cast(null(), String),
            cast(null(), Boolean),
            _P.standing,
        ).where(_P.ticket_number == _NUMBER, _P.email.in_(_ADDRESSES))
    )
)


class Registered(NamedTuple):
    """What the registry says of one address: its contact, that contact's customer, and
    whether both are active."""

    contact_id: int
    customer_id: str
    active: bool
    name: str


def lookup(
    s: Session, number: int, addresses: Sequence[str]
) -> tuple[dict[str, Registered], dict[str, str]]:
    """For each address: what the registry knows of it, and its standing on ticket `number`
    (absent when not on it). One round trip."""
    known: dict[str, Registered] = {}
    stored: dict[str, str] = {}
    rows = s.connection().execute(_LOOKUP, {"addresses": list(addresses), "number": number})
    for source, email, contact_id, customer_id, active, text in rows:
        if source == "c":
            known[email] = Registered(contact_id, customer_id, bool(active), text or "")
        else:
            stored[email] = text
    return known, stored


@dataclass(frozen=True, slots=True)
class Entry:
    """One address's new standing on a ticket, to be written."""

    email: str
    standing: str  # a `domain.participants.Standing` value
    contact_id: int | None
    actor: str


def _insert(dialect: str) -> Any:
    """INSERT .. ON CONFLICT DO NOTHING: two mails naming the same colleague at once (two
    listener workers, PostgreSQL) must not fail the second; the first one's row stands."""
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return ins(Participant.__table__).on_conflict_do_nothing(
        index_elements=["ticket_number", "email"]
    )


_INSERTS = {d: _insert(d) for d in ("sqlite", "postgresql")}
_UPDATE = (
    core_update(Participant.__table__)
    .where(_P.ticket_number == bindparam("n"), _P.email == bindparam("e"))
    .values(
        standing=bindparam("standing"),
        contact_id=bindparam("contact_id"),
        changed_at=bindparam("changed_at"),
        actor=bindparam("actor"),
    )
)


def write(
    s: Session, number: int, entries: Iterable[Entry], now: datetime, *, known: set[str]
) -> None:
    """Insert the entries not on the ticket yet (`known`: the addresses already on it) and
    update the others, on the session's connection (nothing reads them back as objects)."""
    conn = s.connection()
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for e in entries:
        row = {"standing": e.standing, "contact_id": e.contact_id, "actor": e.actor[:320]}
        if e.email in known:
            changed.append({**row, "n": number, "e": e.email, "changed_at": now})
        else:
            new.append({**row, "ticket_number": number, "email": e.email})
            new[-1].update(added_at=now, changed_at=now)
    if new:
        conn.execute(_INSERTS[conn.dialect.name], new)
    if changed:
        conn.execute(_UPDATE, changed)


_MAILED = (
    select(_P.ticket_number, Contact.name, _P.email)
    .join(Contact, Contact.id == _P.contact_id)
    .join(Customer, Customer.id == Contact.customer_id)
    .join(Ticket, Ticket.number == _P.ticket_number)
    .where(
        _P.ticket_number.in_(bindparam("numbers", expanding=True)),
        _P.standing == CC,
        Contact.active.is_(True),
        Customer.active.is_(True),
        Contact.customer_id == Ticket.customer_id,
    )
    .order_by(_P.ticket_number, _P.id)
)


def mailed_many(conn: Connection, numbers: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """(name, address) of each ticket's participants who get its public mail in Cc: CC
    standing, and today still an active contact of the ticket's own customer."""
    out: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for start in range(0, len(numbers), 500):  # bounded IN lists
        for number, name, email in conn.execute(_MAILED, {"numbers": numbers[start : start + 500]}):
            out[number].append((name or "", email))
    return out


def mailed(s: Session, number: int) -> list[tuple[str, str]]:
    """`mailed_many` for one ticket, in the caller's unit of work."""
    return mailed_many(s.connection(), [number]).get(number, [])


@dataclass(frozen=True, slots=True)
class Listed:
    """A participant as people read it (`tickets show`, agents' mail)."""

    email: str
    name: str
    standing: str
    mailed: bool  # gets the ticket's public mail today
    added_at: datetime
    changed_at: datetime
    actor: str


def listed(s: Session, number: int) -> list[Listed]:
    """Every address on the ticket, oldest first, with whether it is mailed today."""
    today = {email for _, email in mailed(s, number)}
    q = (
        select(Participant, Contact.name)
        .outerjoin(Contact, Contact.id == Participant.contact_id)
        .where(Participant.ticket_number == number)
        .order_by(Participant.id)
    )
    return [
        Listed(
            p.email,
            name or "",
            p.standing,
            p.email in today,
            p.added_at,
            p.changed_at,
            p.actor,
        )
        for p, name in s.execute(q)
    ]


def carry_over(s: Session, source: int, target: int, now: datetime, actor: str) -> list[str]:
    """Give ticket `target` the participants of `source` it does not have (standing kept: a
    colleague an agent removed stays removed); returns the addresses added. For a P11
    follow-up and for `#merge` (which then closes `source`, whose rows stay as history)."""
    have = set(s.scalars(select(Participant.email).where(Participant.ticket_number == target)))
    rows = s.execute(
        select(Participant.email, Participant.contact_id, Participant.standing)
        .where(Participant.ticket_number == source, Participant.email.not_in(have))
        .order_by(Participant.id)
    ).all()
    entries = [Entry(email, standing, cid, actor) for email, cid, standing in rows]
    write(s, target, entries, now, known=set())
    return [e.email for e in entries]
