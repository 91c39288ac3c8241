"""The Prometheus endpoint (`[metrics] listen`), through prometheus-client.

Counters and histograms live in this process (Prometheus sums them over instances); gauges
are read at scrape time from a callable the daemon hands in. Each Metrics owns its own
registry, so several daemons in one process (the tests) do not collide, and carries the
standard process metrics (RSS, CPU seconds, open files) and Python's GC and platform ones.

The endpoint binds loopback unless the config names an address: the counters tell an
outsider how much mail a support desk gets and when, which is nobody else's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from maildesk.pipeline.outcome import Ingested

log = logging.getLogger("maildesk.metrics")

#: Gauges read per scrape: name -> help. A value of None (unknown now) is left out.
GAUGES = {
    "maildesk_outbox_pending": "Outbox messages waiting to be sent.",
    "maildesk_imap_connected": "1 while the IMAP consumer is connected.",
    "maildesk_imap_standby": "1 while another instance holds the mailbox lock.",
}

# Buckets chosen for what people alert on: a mail takes ~1-5 ms through the pipeline here
# (BENCHMARKS.md), so 1 ms .. 10 s; a customer expects the acknowledgement within a minute
# of writing (IDLE: ~1 s; IMAP polling or an outage: minutes to hours); the outbox sends
# within a second unless the SMTP server is down (backoff up to hours).
INGEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AGE_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)

#: A Date header this far ahead of our clock is the sender's clock, not the mail's age.
CLOCK_SKEW = 300.0


class _ScrapeGauges(Collector):
    """Gauges whose values come from `read()` at each scrape (database, consumer state)."""

    def __init__(self, read: Callable[[], dict[str, float | None]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            values = self.read()
        except Exception:
            log.exception("metrics: reading gauges failed")
            return
        for name, value in values.items():
            if value is not None:
                yield GaugeMetricFamily(name, GAUGES.get(name, name), value=value)


class Metrics:
    """The daemon's metrics; thread-safe (prometheus-client locks per metric)."""

    def __init__(self, gauges: Callable[[], dict[str, float | None]] | None = None) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        if gauges is not None:
            r.register(_ScrapeGauges(gauges))
        self.inbound = Counter(
            "maildesk_inbound", "Inbound messages by pipeline outcome.", ["outcome"], registry=r
        )
        counter = {
            "maildesk_outbox_sent": "Outbox messages delivered.",
            "maildesk_outbox_failed": "Outbox messages given up after max_attempts.",
            "maildesk_sla_breaches": "SLA breach escalations sent.",
            "maildesk_sla_warnings": "SLA warnings sent.",
            "maildesk_timer_runs": "Timer sweeps run.",
        }
        self.counters = {
            f"{name}_total": Counter(name, text, registry=r) for name, text in counter.items()
        }
        self.ingest_seconds = Histogram(
            "maildesk_ingest_duration_seconds",
            "Time to take one inbound mail through the pipeline and commit it.",
            buckets=INGEST_BUCKETS,
            registry=r,
        )
        self.ack_age_seconds = Histogram(
            "maildesk_mail_age_at_acknowledgement_seconds",
            "From a new ticket's mail (its Date, else its arrival) to its acknowledgement queued.",
            buckets=AGE_BUCKETS,
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "maildesk_outbox_delivery_latency_seconds",
            "From a mail queued in the outbox to its delivery (SMTP accepted or maildir written).",
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )

    def inbound_outcome(self, outcome: str) -> None:
        self.inbound.labels(outcome=outcome).inc()

    def add(self, name: str, amount: int = 1) -> None:
        """Add to one of the plain counters by its exposed name (`..._total`)."""
        if amount:
            self.counters[name].inc(amount)

    def ingested(self, item: Ingested) -> None:
        """One mail's timings: its processing time; for a new ticket, the mail's age when
        its acknowledgement was queued (from its Date unless that is in our future)."""
        self.ingest_seconds.observe(max(item.seconds, 0.0))
        if item.acknowledged:
            self.ack_age_seconds.observe(mail_age(item.dated, item.received_at, item.written_at))

    def delivered(self, latencies: list[float]) -> None:
        for seconds in latencies:
            self.delivery_seconds.observe(max(seconds, 0.0))

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when never set), e.g. for tests and the log."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")


def mail_age(dated: datetime | None, received_at: datetime, written_at: datetime) -> float:
    """Seconds from the mail's Date (or its arrival, when Date is absent or ahead of our
    clock by more than CLOCK_SKEW) to `written_at`; never negative."""
    start = received_at
    if dated is not None and (dated - written_at).total_seconds() <= CLOCK_SKEW:
        start = dated
    return max((written_at - start).total_seconds(), 0.0)


def parse_listen(listen: str) -> tuple[str, int]:
    """'127.0.0.1:9464', '[::1]:9464', '0.0.0.0:9464' -> (host, port); a bare port
    (':9464' or '9464') binds loopback: all interfaces only when asked for by address."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        host, port = "", listen
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"metrics.listen must be [HOST]:PORT, not {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class MetricsServer:
    """GET /metrics in a background thread (prometheus-client's WSGI server)."""

    def __init__(self, listen: str, metrics: Metrics) -> None:
        self.host, self.port = parse_listen(listen)
        self.metrics = metrics
        self._httpd: WSGIServer | None = None

    def start(self) -> None:
        httpd, _thread = start_http_server(self.port, self.host, self.metrics.registry)
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        log.info("metrics on http://%s:%s/metrics", _bracket(self.host), self.port)

    @property
    def bound_address(self) -> str:
        """The address the socket is bound to (for the log and the loopback test)."""
        return str(self._httpd.server_address[0]) if self._httpd else ""

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
