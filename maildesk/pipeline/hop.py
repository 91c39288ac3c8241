"""Which hop received a mail, from the channel's source string: whether the headers at the top
of it were written by a server we trust (SPEC §10, trust of Authentication-Results).

IMAP: the mailbox server's MTA received the mail; its headers are the top of the mail.
SMTP/LMTP listener and `ingest`: maildesk itself is the receiving hop. What it was handed is
believed only from a configured relay (`security.trusted_relays`: the MTA in front that
authenticated the mail); from anyone else, every header in it was written by the sender.
A quarantine replay (`quarantine:<entry>:<original source>`) is judged by its original
channel. Anything else (a test, an unknown channel) is not trusted: default deny.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

INGEST = "ingest"


def hop_trusted(source: str, trusted_relays: Sequence[str]) -> bool:
    """True when the top headers of a mail from `source` were written by a trusted hop."""
    channel, _, rest = source.partition(":")
    if channel == "quarantine":
        return hop_trusted(rest.partition(":")[2], trusted_relays)
    if channel == "imap":
        return True
    if channel == INGEST:
        return INGEST in trusted_relays
    if channel in ("smtp", "lmtp"):
        return _peer_listed(rest.rpartition(":")[0], trusted_relays)
    return False


def _peer_listed(host: str, trusted_relays: Sequence[str]) -> bool:
    try:
        peer = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    for relay in trusted_relays:
        if relay == INGEST:
            continue
        network = ipaddress.ip_network(relay, strict=False)
        if peer.version == network.version and peer in network:
            return True
    return False
