"""Our own Message-IDs: they carry the ticket number and an HMAC, so a reference can be
verified without trusting the subject or the domain (agents share our domain)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_OURS = re.compile(r"^md\.(\d+)\.([0-9a-z]{12})\.([0-9a-f]{16})@(.+)$")


def _sign(secret: bytes, number: int, nonce: str, domain: str) -> str:
    mac = hmac.new(secret, f"{number}.{nonce}@{domain.lower()}".encode(), hashlib.sha256)
    return mac.hexdigest()[:16]


def make_message_id(secret: bytes, domain: str, ticket_number: int | None) -> str:
    """A fresh Message-ID (without angle brackets); ticket 0 means "no ticket"."""
    number = ticket_number or 0
    nonce = secrets.token_hex(6)
    return f"md.{number}.{nonce}.{_sign(secret, number, nonce, domain)}@{domain}"


def verify_message_id(secret: bytes, message_id: str) -> int | None:
    """The ticket number (0 for none) if this is a Message-ID we generated, else None."""
    m = _OURS.match(message_id.strip().strip("<>"))
    if not m:
        return None
    number, nonce, mac, domain = int(m[1]), m[2], m[3], m[4]
    if hmac.compare_digest(mac, _sign(secret, number, nonce, domain)):
        return number
    return None
