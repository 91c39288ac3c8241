"""Capped exponential backoff with jitter, for the loops that wait out a peer that is down:
the IMAP consumer reconnecting and the daemon's sender waiting for its SMTP server.

Only the delay is computed here; the caller waits on its own stop event, so a retry never
holds up a shutdown. (An outbox row's next attempt is `outbound.sender.backoff`: a due time
stored on the row, without jitter.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """`initial` seconds doubling per failure up to `cap`; `reset()` after a success."""

    initial: float
    cap: float
    failures: int = 0

    def next_delay(self) -> float:
        """The wait before the next try; counts one more failure."""
        delay = min(self.cap, self.initial * 2**self.failures)
        self.failures += 1
        return delay * random.uniform(0.5, 1.0)  # jitter: instances do not retry in lockstep

    def reset(self) -> None:
        self.failures = 0
