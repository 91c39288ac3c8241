"""Metrics: the endpoint's bind address (issue 10) and the mail-age rule of the histogram."""

from __future__ import annotations

import socket
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from maildesk.metrics import Metrics, MetricsServer, mail_age, parse_listen
from tests.servers.dovecot import free_port


def _non_loopback_ipv4() -> str | None:
    """An address of this machine other than 127.0.0.0/8, to knock on from outside loopback."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source address
        addr = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if addr.startswith("127.") else addr


def test_metrics_endpoint_binds_loopback_when_only_a_port_is_given() -> None:
    port = free_port()
    assert parse_listen(f":{port}") == ("127.0.0.1", port)
    assert parse_listen(str(port)) == ("127.0.0.1", port)
    assert parse_listen(f"0.0.0.0:{port}") == ("0.0.0.0", port)  # all interfaces when named
    assert parse_listen(f"[::1]:{port}") == ("::1", port)
    server = MetricsServer(f":{port}", Metrics())
    server.start()
    try:
        assert server.bound_address == "127.0.0.1"
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert b"process_resident_memory_bytes" in resp.read()
        outside = _non_loopback_ipv4()
        if outside is not None:
            with pytest.raises(OSError):
                socket.create_connection((outside, port), timeout=2).close()
    finally:
        server.stop()


@pytest.mark.parametrize("listen", ["", "host:", "127.0.0.1:99999", "localhost:http"])
def test_metrics_listen_must_name_a_port(listen: str) -> None:
    with pytest.raises(ValueError, match=r"\[HOST\]:PORT"):
        parse_listen(listen)


def test_mail_age_counts_from_date_or_from_arrival_when_date_is_absent_or_ahead() -> None:
    written = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    arrived = written - timedelta(seconds=2)
    assert mail_age(written - timedelta(minutes=5), arrived, written) == 300.0
    assert mail_age(None, arrived, written) == 2.0
    # a sender's clock an hour fast says nothing about the mail's age
    assert mail_age(written + timedelta(hours=1), arrived, written) == 2.0
    # a few minutes of skew is tolerated, but the age is never negative
    assert mail_age(written + timedelta(seconds=30), arrived, written) == 0.0
