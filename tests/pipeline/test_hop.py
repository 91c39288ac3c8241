"""Which hop received a mail, from its channel's source (SPEC §10 trust of
Authentication-Results): pure, so tested as a table."""

from __future__ import annotations

import pytest

from maildesk.pipeline.hop import hop_trusted

RELAYS = ("127.0.0.1", "10.0.0.0/8", "::1")


@pytest.mark.parametrize(
    ("source", "trusted"),
    [
        ("imap:support@x/INBOX/7:42", True),  # the mailbox server's MTA received it
        ("smtp:127.0.0.1:40000", True),
        ("lmtp:10.1.2.3:25", True),
        ("smtp:::1:40000", True),
        ("smtp:::ffff:127.0.0.1:40000", True),  # IPv4-mapped
        ("smtp:192.0.2.7:40000", False),  # anyone else reaching the listener
        ("lmtp:[2001:db8::1]:25", False),
        ("ingest:stdin", False),  # only with "ingest" among the relays
        ("quarantine:3:imap:support@x/INBOX/7:42", True),  # a replay keeps its channel
        ("quarantine:3:smtp:192.0.2.7:40000", False),
        ("quarantine:3", False),
        ("t", False),
        ("", False),
    ],
)
def test_i10_hop_trusted(source: str, trusted: bool) -> None:
    assert hop_trusted(source, RELAYS) is trusted


def test_i10_ingest_trusted_only_when_listed() -> None:
    assert hop_trusted("ingest:/tmp/mail.eml", ("ingest",))
    assert not hop_trusted("ingest:/tmp/mail.eml", ("127.0.0.1",))
