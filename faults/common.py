"""Shared plumbing for the fault scenarios: servers, a database, daemon processes, counting.

Why one place: every scenario must count the same way (by Message-ID, from the database and
at the SMTP sink), so that "lost" and "doubled" mean the same thing in every table row.
The daemon always runs as a real subprocess (`python -m maildesk --config CFG run`) in its
own process group, so that kill -9 is a real kill -9 and nothing outlives a scenario.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python faults/...` as well as `python -m faults`
    sys.path.insert(0, str(REPO))

from maildesk.registry import import_registry_file  # noqa: E402
from maildesk.store.db import Database  # noqa: E402
from maildesk.store.models import Inbox, Message, Outbox, Ticket  # noqa: E402
from tests.helpers import (  # noqa: E402
    CUSTOMER,
    REGISTRY,
    make_mail,
)
from tests.servers.daemon import daemon_config, write_config  # noqa: E402
from tests.servers.dovecot import Dovecot, dovecot_available  # noqa: E402
from tests.servers.postgres import throwaway_schema  # noqa: E402
from tests.servers.smtp_sink import Received, SmtpSink  # noqa: E402

PG_URL = os.environ.get(
    "MAILDESK_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
READY_LINE = "daemon started"


def wait_until(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll cond until truthy; TimeoutError names what we waited for (scenarios are bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def norm_mid(mid: str | None) -> str:
    """Message-IDs compared the way R1 does: stripped, lower case, in angle brackets."""
    m = (mid or "").strip().lower()
    if m and not m.startswith("<"):
        m = f"<{m}>"
    return m


# -- mail -------------------------------------------------------------------------------------
@dataclass
class Batch:
    """Generated inbound mail: raw bytes plus which Message-IDs open topics or follow up."""

    raws: list[bytes] = field(default_factory=list)
    new: list[str] = field(default_factory=list)  # each must become exactly one ticket + ack
    followups: list[str] = field(default_factory=list)  # each exactly one follow-up, no ack

    def extend(self, other: Batch) -> None:
        self.raws += other.raws
        self.new += other.new
        self.followups += other.followups

    @property
    def mids(self) -> list[str]:
        return self.new + self.followups


def make_batch(tag: str, n: int, followup_every: int = 10) -> Batch:
    """n mails from a registered customer: new topics, and every `followup_every`-th a reply
    (In-Reply-To) to the topic just before it, so follow-ups are counted too."""
    b = Batch()
    for i in range(n):
        mid = f"<fault-{tag}-{i}@acme.example>"
        if followup_every and i % followup_every == followup_every - 1 and b.new:
            parent = b.new[-1]
            raw = make_mail(
                subject=f"Re: caso {tag}-{i - 1}",
                body="Sigue fallando, adjunto más datos.\n",
                message_id=mid,
                in_reply_to=parent,
                references=parent,
            )
            b.followups.append(mid)
        else:
            raw = make_mail(subject=f"Caso {tag}-{i}: el reporte no carga", message_id=mid)
            b.new.append(mid)
        b.raws.append(raw)
    return b


def multiappend(server: Dovecot, raws: list[bytes], batch: int = 200) -> None:
    """APPEND over one connection, `batch` messages per MULTIAPPEND (1 000 in about a second)."""
    with server.session(None) as c:
        for i in range(0, len(raws), batch):
            c.multiappend("INBOX", raws[i : i + batch])


# -- SMTP sink ----------------------------------------------------------------------------------
def restart_sink(sink: SmtpSink, port: int) -> None:
    """Listen again on the old port (the daemon's config names it); received mail is kept."""
    controller = Controller(sink, hostname=sink.host, port=port, ready_timeout=5)
    controller.start()
    sink._controller = controller
    sink.port = port


# -- daemon process -----------------------------------------------------------------------------
class DaemonProc:
    """`python -m maildesk --config CFG run` in its own session; all output appended to log."""

    def __init__(self, config: Path, log: Path, cwd: Path) -> None:
        self.log_path = log
        self._offset = log.stat().st_size if log.exists() else 0
        env = {k: v for k, v in os.environ.items() if k not in ("MAILDESK_CONFIG", "NOTIFY_SOCKET")}
        env["PYTHONPATH"] = str(REPO)
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "maildesk", "--config", str(config), "run"],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches everything
            )
        self.spawned = time.monotonic()

    def log(self) -> str:
        """This run's part of the log."""
        with open(self.log_path, "rb") as fh:
            fh.seek(self._offset)
            return fh.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from spawn to the daemon's "daemon started" line."""

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            return READY_LINE in self.log()

        wait_until(ready, timeout, "the daemon to start", 0.05)
        return time.monotonic() - self.spawned

    def kill9(self) -> None:
        """SIGKILL to the whole process group: no handler, no cleanup, no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def term(self, timeout: float = 15) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds). Killed (-9) if it overstays `timeout`."""
        t0 = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            rc = -9
        return rc, time.monotonic() - t0

    def close(self) -> None:
        if self.alive():
            self.kill9()


# -- environment ----------------------------------------------------------------------------------
@dataclass
class Env:
    """One scenario's world: work folder, database, Dovecot and/or sink, config, daemons."""

    work: Path
    db_url: str
    dovecot: Dovecot | None
    sink: SmtpSink | None
    config: Path
    engine: Engine
    daemons: list[DaemonProc] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.work / "daemon.log"

    def start_daemon(self, ready: bool = True) -> DaemonProc:
        d = DaemonProc(self.config, self.log_path, self.work)
        self.daemons.append(d)
        if ready:
            d.wait_ready()
        return d

    def inbox(self) -> int:
        assert self.dovecot is not None
        return self.dovecot.folder_count(None, "INBOX")

    def folder(self, name: str) -> int:
        assert self.dovecot is not None
        return self.dovecot.folder_count(None, name)

    def scalar(self, q: Any) -> int:
        with self.engine.connect() as c:
            return int(c.execute(q).scalar() or 0)

    def tickets(self) -> int:
        return self.scalar(select(func.count()).select_from(Ticket))

    def outbox_due(self) -> int:
        """Rows a running sender should deliver now (leases and retry backoffs excluded)."""
        q = (
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.state.in_(("pending", "sending")), Outbox.due_at <= datetime.now(UTC))
        )
        return self.scalar(q)

    def outbox_unsent(self) -> int:
        q = select(func.count()).select_from(Outbox).where(Outbox.state.in_(("pending", "sending")))
        return self.scalar(q)

    def leased(self) -> int:
        """Rows claimed by a sender and not finished: they wait for their lease to expire."""
        q = (
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.state == "sending", Outbox.due_at > datetime.now(UTC))
        )
        return self.scalar(q)

    def settle_leases(self, daemon: DaemonProc, wait: bool, timeout: float) -> DaemonProc:
        """Let rows stuck behind a lease be delivered: wait the lease out for real (`wait`),
        or stop the daemon, fast-forward the leases and start a new one. Returns the daemon."""
        if wait:
            wait_until(lambda: self.outbox_unsent() == 0, timeout, "leased rows", 0.5)
            return daemon
        assert daemon.alive(), "the daemon died"
        daemon.term()
        self.expire_leases()
        d = self.start_daemon()
        self.drain(timeout)
        return d

    def expire_leases(self) -> int:
        """What waiting out outbound.sender.LEASE (5 min) does to the rows a killed sender had
        claimed: due again now. Only while no daemon runs. Returns how many rows."""
        assert not any(d.alive() for d in self.daemons)
        with self.engine.begin() as c:
            q = update(Outbox).where(Outbox.state == "sending").values(due_at=datetime.now(UTC))
            res = c.execute(q)
            return int(res.rowcount or 0)

    def drain(self, timeout: float, settle: float = 60.0) -> int:
        """Wait until INBOX is empty and nothing is due in the outbox, then up to `settle`
        seconds for in-flight rows to be sent. Returns the rows still unsent (claimed by a
        dead or stuck sender: they wait for their lease)."""
        if self.dovecot is not None:
            wait_until(lambda: self.inbox() == 0, timeout, "an empty INBOX", 0.2)
        wait_until(lambda: self.outbox_due() == 0, timeout, "the outbox to drain", 0.2)
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: self.outbox_unsent() == 0, settle, "in-flight rows", 0.2)
        return self.outbox_unsent()


@contextlib.contextmanager
def environment(
    name: str,
    db: str = "sqlite",
    imap: bool = True,
    sink: SmtpSink | None = None,
    keep: bool = False,
    **config: Any,
) -> Iterator[Env]:
    """Build the world for one scenario and tear all of it down whatever happens."""
    if imap and not dovecot_available():
        raise RuntimeError("dovecot-imapd is not installed: the IMAP fault scenarios need it")
    # /tmp: as root, Dovecot's mail user must traverse every parent folder.
    work = Path(tempfile.mkdtemp(prefix=f"maildesk-faults-{name}-", dir="/tmp"))
    work.chmod(0o755)
    stack = contextlib.ExitStack()
    env: Env | None = None
    try:
        db_url = stack.enter_context(_database(db, work))
        dovecot: Dovecot | None = None
        if imap:
            dovecot = Dovecot()
            stack.callback(dovecot.stop)
            dovecot.start()
        if sink is None:
            sink = SmtpSink()
        if sink.port == 0:
            sink.start()
        stack.callback(sink.stop)
        registry = work / "registry.toml"
        registry.write_text(REGISTRY, encoding="utf-8")
        data = daemon_config(work, db_url, dovecot, sink, **config)
        data.setdefault("timers", {"interval_seconds": 60})
        cfg = write_config(work / "maildesk.toml", data)
        prep = Database(db_url)
        try:
            prep.upgrade()
            import_registry_file(prep, registry)
        finally:
            prep.dispose()
        engine = create_engine(db_url)
        stack.callback(engine.dispose)
        env = Env(work, db_url, dovecot, sink, cfg, engine)
        yield env
    finally:
        if env is not None:
            for d in env.daemons:
                d.close()
        stack.close()
        if keep:
            print(f"  (kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _database(db: str, work: Path) -> Iterator[str]:
    """A new SQLite file, or a throwaway PostgreSQL schema dropped at the end."""
    if db == "sqlite":
        yield f"sqlite:///{work / 'maildesk.db'}"
        return
    if db != "postgresql":
        raise ValueError(f"unknown database {db!r}")
    with throwaway_schema(PG_URL, "faults") as url:
        yield url


# -- counting -----------------------------------------------------------------------------------
@dataclass
class Tally:
    """Counts by Message-ID; `ok` only when nothing was lost or doubled."""

    expected_tickets: int = 0
    tickets: int = 0  # ticket rows in the database
    lost: int = 0  # inbound Message-IDs with no ledger row / no stored message
    dup_tickets: int = 0  # extra stored copies of an inbound message, or extra tickets
    dup_acks: int = 0  # a new ticket acknowledged by two different outgoing mails: a bug
    redelivered_acks: int = 0  # the same acknowledgement (same Message-ID) delivered again
    redelivered_other: int = 0  # same for agent notifications and other mail
    missing_acks: int = 0
    gave_up: int = 0  # outbox rows in state failed
    unsent: int = 0  # outbox rows still pending/sending at the end
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.dup_tickets
            or self.dup_acks
            or self.missing_acks
            or self.gave_up
            or self.unsent
            or self.tickets != self.expected_tickets
        )


def tally(env: Env, batch: Batch, customer: str = CUSTOMER) -> Tally:
    """Every generated message exactly once in the DB; one acknowledgement per new ticket."""
    t = Tally(expected_tickets=len(batch.new))
    wanted = {norm_mid(m) for m in batch.mids}
    with env.engine.connect() as c:
        ledger = Counter(norm_mid(m) for (m,) in c.execute(select(Inbox.message_id)))
        stored = Counter(
            norm_mid(m)
            for (m,) in c.execute(select(Message.message_id).where(Message.direction == "in"))
        )
        outcomes = Counter(
            o
            for (m, o) in c.execute(select(Inbox.message_id, Inbox.outcome))
            if norm_mid(m) in wanted
        )
        t.tickets = int(c.execute(select(func.count()).select_from(Ticket)).scalar() or 0)
        states = Counter(s for (s,) in c.execute(select(Outbox.state)))
    for mid in wanted:
        if ledger[mid] == 0 or stored[mid] == 0:
            t.lost += 1
        t.dup_tickets += max(0, stored[mid] - 1) + max(0, ledger[mid] - 1)
    t.dup_tickets += max(0, t.tickets - t.expected_tickets)
    t.gave_up = states["failed"]
    t.unsent = states["pending"] + states["sending"]
    if set(outcomes) - {"ticketed", "followed_up"}:
        t.notes.append(f"unexpected outcomes {dict(outcomes)}")
    assert env.sink is not None
    acks: dict[str, list[str]] = defaultdict(list)
    copies: Counter[str] = Counter()
    for m in list(env.sink.messages):
        msg = m.message
        out_id = norm_mid(str(msg["Message-ID"] or ""))
        copies[out_id] += 1
        if m.rcpt_tos == [customer]:
            acks[norm_mid(str(msg["In-Reply-To"] or ""))].append(out_id)
    ack_ids: set[str] = set()
    for mid in batch.new:
        got = acks.get(norm_mid(mid), [])
        if not got:
            t.missing_acks += 1
        distinct = set(got)
        ack_ids |= distinct
        t.dup_acks += max(0, len(distinct) - 1)
        t.redelivered_acks += len(got) - len(distinct)
    t.redelivered_other = sum(n - 1 for mid, n in copies.items() if mid not in ack_ids)
    strays = sum(len(v) for k, v in acks.items() if k not in {norm_mid(m) for m in batch.new})
    if strays:
        t.notes.append(f"{strays} mail(s) to the customer answering no new topic")
    return t


def received_for(sink: SmtpSink, rcpt: str) -> list[Received]:
    return [m for m in list(sink.messages) if m.rcpt_tos == [rcpt]]


# -- report --------------------------------------------------------------------------------------
@dataclass
class Result:
    """One table row."""

    scenario: str
    db: str
    rounds: int
    messages: int
    tally: Tally
    seconds: float
    extra: list[str] = field(default_factory=list)
    passed: bool | None = None  # None: decided by tally.ok

    @property
    def ok(self) -> bool:
        return self.tally.ok if self.passed is None else self.passed


HEADER = (
    "scenario",
    "db",
    "rounds",
    "messages",
    "tickets exp/got",
    "lost",
    "dup tickets",
    "dup acks",
    "acks resent",
    "other resent",
    "acks missing",
    "gave up",
    "time s",
    "result",
)


def row(r: Result) -> tuple[str, ...]:
    t = r.tally
    return (
        r.scenario,
        r.db,
        str(r.rounds),
        str(r.messages),
        f"{t.expected_tickets}/{t.tickets}",
        str(t.lost),
        str(t.dup_tickets),
        str(t.dup_acks),
        str(t.redelivered_acks),
        str(t.redelivered_other),
        str(t.missing_acks),
        str(t.gave_up),
        f"{r.seconds:.0f}",
        "ok" if r.ok else "FAIL",
    )


def table(results: list[Result]) -> str:
    rows = [HEADER, *(row(r) for r in results)]
    widths = [max(len(x[i]) for x in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(x, widths, strict=True)) for x in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        for note in [*r.tally.notes, *r.extra]:
            lines.append(f"  {r.scenario}: {note}")
    return "\n".join(lines)
