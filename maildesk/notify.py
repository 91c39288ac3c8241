"""systemd's notify protocol (sd_notify(3)) in a few lines: no dependency for one datagram.

Type=notify units learn from us when the channels are up (READY=1), when we are stopping
(STOPPING=1) and that we are alive (WATCHDOG=1); outside systemd every call is a no-op.
"""

from __future__ import annotations

import os
import socket


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return None
    # A leading '@' names a socket in Linux's abstract namespace (a NUL byte on the wire).
    return "\0" + addr[1:] if addr.startswith("@") else addr


def notify(*lines: str) -> bool:
    """Send `KEY=value` lines to the service manager; False when not under systemd."""
    addr = _address()
    if addr is None:
        return False
    payload = "\n".join(lines).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(payload, addr)
    except OSError:
        return False  # never let monitoring take the daemon down
    return True


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of $WATCHDOG_USEC), None when not asked for.

    WATCHDOG_PID, when set, must be us: a child that inherited the environment stays silent."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2
