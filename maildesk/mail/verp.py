"""The envelope sender of our mail: one return path per outbox row (VERP-style), signed.

RFC 3834 §3.3 asks automatic responses to use a return path that cannot start a loop, and
recommends the null sender `<>` for that. A null sender would also throw away every bounce,
and maildesk needs bounces (R2: stop mailing an address that no longer exists). So mail goes
out as `support+bounce-<row>-<mac>@domain`:

- a bounce (DSN) comes back to that address naming exactly one outbox row, and the MAC
  (HMAC with the Message-ID key) means nobody can make up an address for a row we never
  sent: a forged bounce cannot point at another customer's mail (issue 10 finding 2);
- anything else sent there (an out-of-office reply, which RFC 3834 robots address to the
  return path) arrives as automatic mail and is never answered (R3), so no loop can start;
- it is our own address plus a `+` tag: the MTA must deliver `support+anything@` to the
  support mailbox (sub-addressing), which R7's `support+<number>@` already needs.

Pure: the secret comes in as an argument.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re

TAG = "bounce"


def _mac(secret: bytes, row_id: int) -> str:
    return hmac.new(secret, f"{TAG}.{row_id}".encode(), hashlib.sha256).hexdigest()[:12]


def return_path(secret: bytes, support_address: str, row_id: int) -> str:
    """The envelope sender for outbox row `row_id`."""
    local, _, domain = support_address.strip().rpartition("@")
    local = local.partition("+")[0]
    return f"{local}+{TAG}-{row_id}-{_mac(secret, row_id)}@{domain}"


def _tag(support_address: str, address: str) -> str | None:
    """What follows `support+bounce-` in an address of that shape, or None."""
    local, _, domain = support_address.strip().lower().rpartition("@")
    local = local.partition("+")[0]
    pattern = rf"{re.escape(local)}\+{TAG}-([^@]*)@{re.escape(domain)}\.?"
    found = re.fullmatch(pattern, address.strip().strip("<>").lower())
    return found.group(1) if found else None


def is_return_path(support_address: str, address: str) -> bool:
    """Shaped like a return path of ours, whether or not it is genuine: mail sent there is a
    bounce or a robot's answer, never a customer's mail (RFC 3834 §3.3)."""
    return _tag(support_address, address) is not None


def bounced_row(secret: bytes, support_address: str, address: str) -> int | None:
    """The outbox row an address of ours stands for, if it is a genuine return path."""
    found = re.fullmatch(r"(\d{1,18})-([0-9a-f]{12})", _tag(support_address, address) or "")
    if found is None:
        return None
    row_id = int(found.group(1))
    return row_id if hmac.compare_digest(found.group(2), _mac(secret, row_id)) else None
