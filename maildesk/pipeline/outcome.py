"""What happened to one inbound message: every message ends in exactly one outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    TICKETED = "ticketed"
    FOLLOWED_UP = "followed_up"
    REJECTED = "rejected"  # P3/P1/too large: notice queued (rate limits permitting), mail kept
    IGNORED = "ignored"  # duplicate, bounce without ticket, automatic mail...: reason says why
    QUARANTINED = "quarantined"  # could not be processed; kept for `quarantine replay`


class Refusal(StrEnum):
    """Why a message was REJECTED, for channels that answer in their protocol (SMTP 550 or
    552); the values are the reasons the ledger shows."""

    UNREGISTERED = "unregistered sender"  # R5 (P3)
    CONTRACT_EXPIRED = "contract expired"  # R6 (P1)
    TOO_LARGE = "message too large"  # limits.max_message_bytes
    UNAUTHENTICATED = "agent mail not authenticated"  # §4: a forged agent, perhaps


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    reason: str = ""
    ticket_number: int | None = None
    message_id: str | None = None
    duplicate: bool = False  # R1: seen before, nothing new written
    refusal: Refusal | None = None  # set when kind is REJECTED


@dataclass(frozen=True)
class Ingested:
    """One message's outcome with its timings, for the metrics (`App.ingest_listeners`)."""

    outcome: Outcome
    seconds: float  # time through the pipeline to the commit (a batch's share per message)
    dated: datetime | None  # the mail's Date header, None when absent
    received_at: datetime  # when maildesk took the mail in
    written_at: datetime  # when its transaction committed (its notices queued)

    @property
    def acknowledged(self) -> bool:
        """A new ticket: its acknowledgement was queued in that transaction."""
        return self.outcome.kind is Kind.TICKETED and not self.outcome.duplicate
