"""One mailbox, many spellings: `Support+x@Example.COM.` and `support@example.com` reach the
same mailbox, so every check of "is this our own address" compares mailbox keys.

Pure: no config, no I/O. Used for the staff-address rules of SPEC §10 (maildesk never mails
its own support address; staff never get customer notices; config refuses the support
address in a staff role).
"""

from __future__ import annotations


def mailbox_key(address: str) -> str:
    """Lower-cased, angle brackets and white space dropped, the domain without a trailing dot
    and the local part without its `+tag` (sub-addressing: the tag reaches the same box)."""
    addr = address.strip().strip("<>").strip().lower()
    local, at, domain = addr.rpartition("@")
    if not at:
        return addr.rstrip(".")
    return f"{local.partition('+')[0]}@{domain.rstrip('.')}"


def same_mailbox(a: str, b: str) -> bool:
    return bool(a and b) and mailbox_key(a) == mailbox_key(b)
