"""The unit of work of one inbound mail: every handler's one argument.

Like Mailman's `(mlist, msg, msgdata)`, the values that travel together from `accept` down to
the last writer (the session, the app, the parsed mail, its routing) are one frozen value,
so every handler has the same shape, `handler(unit, ticket) -> Outcome`, and no function
threads seven positional arguments in its own order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maildesk.mail.classify import Classification
from maildesk.mail.inbound import Inbound
from maildesk.pipeline.route import Decision, Facts

if TYPE_CHECKING:
    from maildesk.app import App


@dataclass(frozen=True, slots=True)
class Unit:
    """One inbound mail inside its transaction `s`, after routing (read-only for handlers)."""

    s: Session
    app: App
    msg: Inbound
    raw_sha: str  # the raw bytes' blob, already stored
    cls: Classification
    facts: Facts
    decision: Decision
    now: datetime
    source: str
    # False for channels that refuse in-protocol (SMTP 550): no rejection notice is queued.
    notices: bool = True

    @property
    def silent(self) -> bool:
        """Nothing automatic may answer this mail (R3: it asked for no auto-replies)."""
        return self.cls.suppress_autoreply
