"""maildesk's daemon as tests run it: in-process (a Daemon with its tunables shrunk, so
retries and backoff take fractions of a second) or as a subprocess (`python -m maildesk
--config CFG run`, stderr in a file, systemd's notify socket on an abstract address), and the
config that points it at the test servers. The fixtures `daemons` and `processes`
(tests/servers/fixtures.py) stop whatever a test started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from maildesk.app import App
from maildesk.daemon import Daemon
from tests.helpers import AGENTS, SUPPORT
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parent.parent.parent


def sections(tmp_path: Path, dovecot: Dovecot | None, sink: SmtpSink | None) -> dict[str, Any]:
    """Config sections for IMAP in / SMTP out against the test servers."""
    out: dict[str, Any] = {"limits": {"auto_mails_per_recipient_per_day": 100000}}
    if dovecot is not None:
        secret = tmp_path / "imap.secret"
        secret.write_text(dovecot.password + "\n")
        out["inbound"] = {
            "mode": "imap",
            "imap": {
                "host": dovecot.host,
                "port": dovecot.port,
                "ssl": False,
                "starttls": False,
                "username": dovecot.users[0],
                "password_file": str(secret),
                "poll_seconds": 5,
            },
        }
    if sink is not None:
        out["outbound"] = sink.outbound()
    return out


def start_daemon(app: App, daemons: list[Daemon]) -> Daemon:
    d = Daemon(app)
    d.imap_overrides = {
        "retry_seconds": 0.2,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
        "timeout": 5,
    }
    d.outbox_backoff_initial, d.outbox_backoff_max = 0.2, 1.0
    d.lock_retry_seconds = 0.5
    daemons.append(d)
    d.start()
    return d


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """A tiny TOML writer for the nested tables the tests need."""
    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in scalars.items())
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    agents = data.pop("agents", [])
    table("", data)
    for a in agents:
        lines.append("[[agents]]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in a.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def daemon_config(
    tmp_path: Path, db_url: str, dovecot: Dovecot | None, sink: SmtpSink | None, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "support": {"address": SUPPORT, "subject_prefix": "BITAM"},
        "database": {"url": db_url},
        "inbound": {"mode": "none"},
        "outbound": {"mode": "maildir", "maildir": str(tmp_path / "outbox")},
        "escalation": {"supervisors": ["jefe@support.example"]},
        "agents": [dict(a) for a in AGENTS],
        **sections(tmp_path, dovecot, sink),
    }
    data.update(extra)
    return data


class DaemonProcess:
    """`python -m maildesk [--config CFG] run` with stderr in a file and a notify socket."""

    def __init__(self, log_path: Path, config: Path | None, cwd: Path, watchdog: bool = False):
        self.log_path = log_path
        self.name = f"maildesk-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)  # abstract namespace: no path length limit
        self.sock.settimeout(0.2)
        self.notices: list[str] = []
        env = {k: v for k, v in os.environ.items() if k != "MAILDESK_CONFIG"}
        env["NOTIFY_SOCKET"] = "@" + self.name
        env["PYTHONPATH"] = str(ROOT)
        if watchdog:
            env["WATCHDOG_USEC"] = "400000"
        args = [sys.executable, "-m", "maildesk"]
        if config is not None:
            args += ["--config", str(config)]
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [*args, "run"], cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _drain(self) -> None:
        try:
            while True:
                self.notices.extend(self.sock.recv(4096).decode().split("\n"))
        except (TimeoutError, BlockingIOError):
            pass

    def wait_notice(self, line: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.notices:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {line} within {timeout}s:\n{self.log()}")
            self._drain()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
        """Send sig; return (exit code, seconds until exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        return rc, time.monotonic() - t0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._drain()
        self.sock.close()
        self._log.close()
