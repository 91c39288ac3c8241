"""Shared bench plumbing: the work folder, a maildesk App on a temp SQLite, a private Dovecot.

Why here: every bench builds the same maildesk (registry from the corpus, IMAP inbound,
loop caps raised so a 2 000-mail burst from 200 contacts is not throttled) and must not
depend on anything outside the repository.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/x.py` as well as `python -m bench`
    sys.path.insert(0, str(REPO))

from maildesk.app import App  # noqa: E402
from maildesk.config import config_from_dict  # noqa: E402
from maildesk.registry import import_registry_file  # noqa: E402
from maildesk.store.db import Database  # noqa: E402

IMAP_USER = "support@example.test"
IMAP_PASSWORD = "secret"
AGENTS = [
    {"email": "agente1@example.test", "name": "Agente Uno", "skills": ["soporte", "error"]},
    {"email": "agente2@example.test", "name": "Agente Dos", "skills": ["soporte", "actividad"]},
]


def work_dir() -> Path:
    """$MAILDESK_BENCH_WORK or /tmp/maildesk-bench (under /tmp: Dovecot's mail user, when run
    as root, must traverse every parent folder)."""
    path = Path(os.environ.get("MAILDESK_BENCH_WORK", "/tmp/maildesk-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch(prefix: str) -> Path:
    """A fresh temp folder inside the work folder for one run."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir()))


def maildesk_config(folder: Path, **sections: Any) -> dict[str, Any]:
    """The config every bench starts from, as a dict (also written as TOML for the daemon)."""
    data: dict[str, Any] = {
        "support": {"address": IMAP_USER, "subject_prefix": "BITAM", "language": "es"},
        "database": {"url": f"sqlite:///{folder / 'maildesk.db'}"},
        "inbound": {"mode": "none"},
        "outbound": {"mode": "maildir", "maildir": str(folder / "outbox")},
        "agents": AGENTS,
        "escalation": {"supervisors": ["jefe@example.test"]},
        # A burst from 200 contacts in one "day": the loop caps (R5) would mute acknowledgements.
        "limits": {"auto_mails_per_recipient_per_day": 100_000},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_app(folder: Path, registry_toml: str | None = None, **sections: Any) -> App:
    """A prepared App on a new SQLite file in `folder`, with the registry imported."""
    cfg = config_from_dict(maildesk_config(folder, **sections), "bench-config", folder)
    app = App(cfg, Database(cfg.database.url))
    app.prepare()
    if registry_toml is not None:
        path = folder / "registry.toml"
        path.write_text(registry_toml, encoding="utf-8")
        import_registry_file(app.db, path)
    return app


def start_dovecot() -> Any:
    """A private Dovecot on a free loopback port (the test helper, reused as is)."""
    from tests.servers.dovecot import Dovecot, dovecot_available

    if not dovecot_available():
        raise SystemExit("dovecot is not installed (apt-get install dovecot-imapd)")
    server = Dovecot(users=(IMAP_USER,), password=IMAP_PASSWORD)
    server.start()
    return server


def multiappend(server: Any, raws: Iterable[bytes], batch: int = 200) -> int:
    """APPEND everything over one connection, `batch` messages per MULTIAPPEND command."""
    n = 0
    with server.session(IMAP_USER) as client:
        chunk: list[bytes] = []
        for raw in raws:
            chunk.append(raw)
            if len(chunk) >= batch:
                client.multiappend("INBOX", chunk)
                n += len(chunk)
                chunk = []
        if chunk:
            client.multiappend("INBOX", chunk)
            n += len(chunk)
    return n


def imap_settings(server: Any, idle: bool = True) -> Any:
    from maildesk.channels.imap import ImapSettings

    return ImapSettings(
        host=server.host,
        port=server.port,
        ssl=False,
        starttls=False,
        username=IMAP_USER,
        password=IMAP_PASSWORD,
        idle=idle,
        poll_seconds=0.5,
    )


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for the bench config: scalars, lists, tables, arrays of tables."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(type(v))

    scalars, tables = [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append(f"\n[{prefix}{k}]\n" + to_toml(v, f"{prefix}{k}."))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            tables += [f"\n[[{prefix}{k}]]\n" + to_toml(row) for row in v]
        else:
            scalars.append(f"{k} = {value(v)}\n")
    return "".join(scalars) + "".join(tables)


def spawn_daemon(
    folder: Path, server: Any, env: dict[str, str] | None = None, **sections: Any
) -> subprocess.Popen[bytes]:
    """`python -m maildesk --config CFG run` on this folder's database, IMAP inbound from
    `server`; output in folder/daemon.log; `env` added to ours. Stop it with `stop_daemon`."""
    (folder / "imap.pw").write_text(IMAP_PASSWORD)
    imap = {
        "host": server.host,
        "port": server.port,
        "ssl": False,
        "starttls": False,
        "username": IMAP_USER,
        "password_file": str(folder / "imap.pw"),
    }
    cfg = maildesk_config(folder, inbound={"mode": "imap", "imap": imap}, **sections)
    path = folder / "maildesk.toml"
    path.write_text(to_toml(cfg))
    with (folder / "daemon.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "maildesk", "--config", str(path), "run"],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load() -> str:
    """The 1/5/15-minute load averages, for the record next to every figure."""
    a, b, c = os.getloadavg()
    return f"load {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} CPUs"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}, {platform.system()}"


def banner(title: str) -> None:
    print(f"== {title} ({time.strftime('%Y-%m-%d %H:%M')}, {load()})", flush=True)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A subprocess whose failure shows its output (peer set-up steps)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
        )
    return proc


def cleanup(path: Path, keep: bool) -> None:
    if not keep:
        shutil.rmtree(path, ignore_errors=True)
