"""`maildesk run`: the daemon. Wires the inbound channel, the outbox sender and the timers.

Threads, each with one job and all stopped by one event:
  inbound   IMAP consumer (IDLE), or the SMTP/LMTP listener (aiosmtpd), or nothing
            (`inbound.py`)
  sender    flushes the outbox whenever a row is due (`sender.py`)
  timers    APScheduler 3: T1-T4 (+ a T5 flush) every `timers.interval_seconds`, first at
            start, and the supervisors' digest (`jobs.py`)
  main      signals (TERM/INT stop, HUP reload: `reload.py`), systemd notify and watchdog,
            health (`core.py`)

Rule ids: docs/rules.md.
"""

from maildesk.daemon.core import Daemon, exit_when_stuck

__all__ = ["Daemon", "exit_when_stuck"]
