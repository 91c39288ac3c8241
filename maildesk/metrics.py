"""A Prometheus text-format endpoint (`[metrics] listen`), with the stdlib's HTTP server.

Counters live in this process (Prometheus sums them over instances); gauges are read at
scrape time. A few counters do not justify a client library and its registry.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("maildesk.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "maildesk_inbound_total": ("counter", "Inbound messages by pipeline outcome."),
    "maildesk_outbox_sent_total": ("counter", "Outbox messages delivered."),
    "maildesk_outbox_failed_total": ("counter", "Outbox messages given up after max_attempts."),
    "maildesk_sla_breaches_total": ("counter", "SLA breach escalations sent (T4)."),
    "maildesk_sla_warnings_total": ("counter", "SLA warnings sent (T4)."),
    "maildesk_timer_runs_total": ("counter", "Timer sweeps run (T1-T4)."),
    "maildesk_outbox_pending": ("gauge", "Outbox messages waiting to be sent."),
    "maildesk_imap_connected": ("gauge", "1 while the IMAP consumer is connected."),
    "maildesk_imap_standby": ("gauge", "1 while another instance holds the mailbox lock."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Thread-safe counters fed by the daemon's workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inbound: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()

    def inbound_outcome(self, outcome: str) -> None:
        with self._lock:
            self.inbound[outcome] += 1

    def add(self, name: str, amount: int = 1) -> None:
        if amount:
            with self._lock:
                self.counters[name] += amount

    def render(self, gauges: dict[str, float | None]) -> str:
        """The exposition text; a gauge whose value is None (unknown right now) is left out."""
        with self._lock:
            inbound = dict(self.inbound)
            counters = dict(self.counters)
        out: list[str] = []

        def head(name: str) -> None:
            kind, text = _HELP.get(name, ("untyped", ""))
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        head("maildesk_inbound_total")
        for outcome, n in sorted(inbound.items()):
            out.append(f'maildesk_inbound_total{{outcome="{_escape(outcome)}"}} {n}')
        for name in (
            "maildesk_outbox_sent_total",
            "maildesk_outbox_failed_total",
            "maildesk_sla_breaches_total",
            "maildesk_sla_warnings_total",
            "maildesk_timer_runs_total",
        ):
            head(name)
            out.append(f"{name} {counters.get(name, 0)}")
        for name, value in gauges.items():
            if value is not None:
                head(name)
                out.append(f"{name} {value:g}")
        return "\n".join(out) + "\n"


def parse_listen(listen: str) -> tuple[str, int]:
    """'127.0.0.1:9464', '[::1]:9464' or ':9464' (all interfaces) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"metrics.listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class MetricsServer:
    """GET /metrics in a background thread; `render` is called per scrape."""

    def __init__(self, listen: str, render: Callable[[], str]) -> None:
        self.host, self.port = parse_listen(listen)
        self.render = render
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        render = self.render

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                try:
                    body = render().encode("utf-8")
                except Exception:
                    log.exception("metrics: rendering failed")
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics %s " + format, self.client_address[0], *args)

        server_cls = _V6Server if ":" in self.host else ThreadingHTTPServer
        self._httpd = server_cls((self.host, self.port), Handler)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="maildesk-metrics",
            daemon=True,
        )
        self._thread.start()
        log.info("metrics on http://%s:%s/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
