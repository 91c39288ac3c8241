"""SQLAlchemy models: the durable state of maildesk (same schema on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from maildesk.domain.lifecycle import State
from maildesk.domain.sla import Priority, TicketType

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EnumText(TypeDecorator[StrEnum]):
    """A StrEnum kept as its value in a VARCHAR (no schema change, no database enum type) and
    read back as the enum's member, so code says `t.state is State.OPEN`."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_result_value(self, value: str | None, dialect: Any) -> StrEnum | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    # Every model here maps one Table (no joined or selectable mappings), so say so: Core
    # statements and `insert_many` then take `Model.__table__` as the Table it is.
    __table__: ClassVar[Table]
    metadata = MetaData(naming_convention=NAMING)


class Setting(Base):
    """Small key/value facts the program keeps for itself (e.g. the generated HMAC secret)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Product(Base):
    __tablename__ = "products"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)  # oldest → newest

    @property
    def supported_versions(self) -> list[str]:
        return list(self.versions[-2:])


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    policy: Mapped[str] = mapped_column(String(20), default="standard")
    support_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    max_contacts: Mapped[int] = mapped_column(Integer, default=1)
    products: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    contacts: Mapped[list[Contact]] = relationship(back_populates="customer")


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(100), default="")
    cloud_space: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    suppressed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    customer: Mapped[Customer] = relationship(back_populates="contacts")


class Agent(Base):
    """Agents come from config (or the registry); kept here for assignment and history."""

    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    committee: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def only(state: State, type_: TicketType | None = None) -> dict[str, Any]:
    """A partial index's WHERE: the tickets in one state (and of one type). The timers and
    P7 look only at open or resolved tickets; leaving the closed history (most of the table,
    growing for ever) out of their indexes makes closing a ticket delete index entries
    instead of inserting them at random places in huge indexes (SPEC §9)."""
    where = f"state = '{state}'" + (f" AND type = '{type_}'" if type_ else "")
    return {"sqlite_where": text(where), "postgresql_where": text(where)}


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_resolved", "resolved_at", **only(State.RESOLVED)),  # T1
        Index("ix_tickets_open_sla", "sla_due_at", **only(State.OPEN)),
        Index("ix_tickets_open_sla_warn", "sla_warned", "sla_warn_at", **only(State.OPEN)),  # T4
        Index("ix_tickets_open_sla_breach", "sla_breached", "sla_due_at", **only(State.OPEN)),  # T4
        Index("ix_tickets_open_assignee", "assignee_id", **only(State.OPEN)),  # P7 load
        # The customer's history at first attention (store/history.py): their tickets by
        # state, the closed ones by date; it also serves every lookup by customer.
        Index("ix_tickets_customer_state_closed", "customer_id", "state", "closed_at"),
        Index("ix_tickets_open_agent_public", "last_agent_public_at", **only(State.OPEN)),  # T2
        # T3 reads only open feature requests (P13), so no other ticket is in its index.
        Index(
            "ix_tickets_open_feature_type_set",
            "type_set_at",
            **only(State.OPEN, TicketType.FEATURE_REQUEST),
        ),
        {"sqlite_autoincrement": True},
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(998), default="")
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    product: Mapped[str | None] = mapped_column(String(200), nullable=True)
    product_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    unsupported_version: Mapped[bool] = mapped_column(Boolean, default=False)
    type: Mapped[TicketType] = mapped_column(EnumText(TicketType, 30))
    priority: Mapped[Priority] = mapped_column(EnumText(Priority, 10))
    unclassified: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[State] = mapped_column(EnumText(State, 10), default=State.OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type_set_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    follows_up: Mapped[int | None] = mapped_column(Integer, nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_warned: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    viable: Mapped[str | None] = mapped_column(String(3), nullable=True)
    feature_reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_agent_public_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # SPEC §10: the first public agent answer, for first-response times.
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # SPEC §10: the last reopening (P10), where the current SLA clock starts; None: the clock
    # runs from created_at. Nullable rather than backfilled: most tickets are never reopened.
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    customer: Mapped[Customer] = relationship()
    requester: Mapped[Contact] = relationship()
    assignee: Mapped[Agent | None] = relationship()
    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id")
    events: Mapped[list[Event]] = relationship(order_by="Event.id")

    @property
    def sla_started_at(self) -> datetime:
        """Where the current SLA clock runs from: the creation, or the last reopening."""
        return self.reopened_at or self.created_at


class Participant(Base):
    """An address on a ticket besides its requester (SPEC §10): a colleague mailed in Cc, or
    an address recorded for agents and never mailed (`domain.participants.Standing`). One
    row per (ticket, address); a change of standing updates it and leaves an event."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("ticket_number", "email"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_number: Mapped[int] = mapped_column(ForeignKey("tickets.number"))
    email: Mapped[str] = mapped_column(String(320))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    standing: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Who put it in its standing: the customer whose mail had it in To/Cc, or the agent.
    actor: Mapped[str] = mapped_column(String(320), default="")


class Resolution(Base):
    """One SLA clock that ended: a ticket resolved (or closed while open), with the clock it
    was measured against. Append-only: a reopening starts a new clock and never rewrites
    this row, so a resolution on time stays met in compliance whatever happens later
    (SPEC §10)."""

    __tablename__ = "resolutions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_number: Mapped[int] = mapped_column(ForeignKey("tickets.number"), index=True)
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    clock_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    type: Mapped[str] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10))


class Blob(Base):
    """Content-addressed bytes: raw mails and attachments, stored once per sha256."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_number: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.number"), index=True, nullable=True
    )
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(10))  # customer | agent | note | notice
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    to_addrs: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    message_id: Mapped[str | None] = mapped_column(String(998), index=True, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text, default="")
    full_text: Mapped[str] = mapped_column(Text, default="")
    raw_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), nullable=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    ticket: Mapped[Ticket | None] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id")


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))


class Event(Base):
    """Audit trail: every change, who did it, when, from what to what."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_number: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.number"), index=True, nullable=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(320), default="system")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Inbox(Base):
    """Ledger of every inbound message and its one outcome; the unique key makes R1 hold."""

    __tablename__ = "inbound"
    __table_args__ = (UniqueConstraint("message_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(998))
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(500), default="")
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200), default="")
    ticket_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    raw_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"), nullable=True)


class Quarantine(Base):
    """Messages that failed; kept with the error so an operator can replay them after a fix."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    raw_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replay_outcome: Mapped[str | None] = mapped_column(String(50), nullable=True)
    #: An operator's `quarantine discard`: no replay wanted; the bytes stay.
    discarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @classmethod
    def waiting(cls) -> ColumnElement[bool]:
        """Entries still waiting for a replay: not discarded, and never replayed or
        quarantined again by their last replay."""
        again = cls.replay_outcome.like("quarantined%")
        return and_(cls.discarded_at.is_(None), or_(cls.replayed_at.is_(None), again))


class OutboxState(StrEnum):
    """Where a mail in the outbox stands."""

    PENDING = "pending"  # due at due_at (again after a failed attempt, with backoff)
    SENDING = "sending"  # claimed by a sender (claimed_by); free again when it dies (claims.py)
    SENT = "sent"
    FAILED = "failed"  # given up after max_attempts or a permanent refusal
    CANCELLED = "cancelled"  # an operator's `outbox cancel`: never sent


class Outbox(Base):
    """Mail to send, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "due_at"),
        Index("ix_outbox_rcpt", "to_addr", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ticket_number: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    template: Mapped[str] = mapped_column(String(50))
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    to_addr: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # an OutboxState
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Who wrote it (the agent of a relayed answer or of the command behind a notice): told
    # when it fails for good, with the ticket's assignee (issue 8 item 6).
    author: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # The process that claimed it (state sending, SQLite): host, pid, the pid's start time;
    # a sender on that host takes the row back at once when that process is gone (claims.py).
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
