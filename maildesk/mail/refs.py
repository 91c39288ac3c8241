"""Ticket references that need no database (R7): subject tag, plus address, clean subject.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Reply/forward prefixes of common clients, English, Spanish, German, French, Italian, Dutch.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|rv|r|fw|fwd|tr|wg|rif|enc|antw|res)"
    r"(?:\s*\[\d+\]|\s*\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_MAX_NUMBER_DIGITS = 12


@lru_cache(maxsize=32)
def _tag(prefix: str) -> re.Pattern[str]:
    """`[<prefix> #<n>]`, tolerant of spaces and case, never matching a longer prefix."""
    words = r"\s+".join(re.escape(w) for w in prefix.split())
    return re.compile(
        rf"\[\s*{words}\s*#\s*(\d{{1,{_MAX_NUMBER_DIGITS}}})\s*\]",
        re.IGNORECASE,
    )


def subject_ticket_number(subject: str, prefix: str) -> int | None:
    """The ticket number of our tag anywhere in the subject, or None."""
    if not subject or not prefix.strip():
        return None
    found = _tag(prefix.strip()).search(subject)
    if not found:
        return None
    number = int(found.group(1))
    return number if number > 0 else None


def plus_address_number(addresses: Iterable[str], support_address: str) -> int | None:
    """support+123@domain -> 123, only for our own local part and domain."""
    local, _, domain = support_address.strip().lower().rpartition("@")
    if not local or not domain:
        return None
    pattern = re.compile(rf"{re.escape(local)}\+(\d{{1,{_MAX_NUMBER_DIGITS}}})@{re.escape(domain)}")
    for address in addresses:
        found = pattern.fullmatch(address.strip().strip("<>").lower())
        if found and int(found.group(1)) > 0:
            return int(found.group(1))
    return None


def strip_reply_prefixes(subject: str) -> str:
    """ "Re: RV: FW: x" -> "x"."""
    return _PREFIX.sub("", subject, count=1)


def clean_subject(subject: str, prefix: str) -> str:
    """The subject to store for a new ticket: no reply prefixes, no tag of ours."""
    text = re.sub(r"[\r\n\t]+", " ", subject or "")
    if prefix.strip():
        text = _tag(prefix.strip()).sub(" ", text)
    text = strip_reply_prefixes(text)
    # A tag between prefixes ("Re: [BITAM #1] RE: x") leaves prefixes behind it.
    text = strip_reply_prefixes(text)
    return re.sub(r"\s{2,}", " ", text).strip()
