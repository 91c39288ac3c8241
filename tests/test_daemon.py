"""The daemon (`maildesk run`) against a real Dovecot and a real SMTP sink (SPEC §6, §8).

In-process (a Daemon object, tunables shrunk) where that is enough; as a subprocess
(`python -m maildesk --config CFG run`) where the process itself matters: signals, exit
codes, systemd notify, two daemons sharing one PostgreSQL database.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import smtplib
import socket
import statistics
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from maildesk.app import App
from maildesk.channels.imap import ImapConsumer
from maildesk.daemon import Daemon
from maildesk.locks import FileLock, PgAdvisoryLock
from maildesk.notify import notify, watchdog_interval
from maildesk.registry import import_registry_file
from maildesk.store.db import Database
from maildesk.store.models import Agent, Outbox, Quarantine, Ticket
from tests.helpers import CUSTOMER, PG_URL, SUPPORT, count, make_mail, wait_until
from tests.servers.daemon import DaemonProcess, daemon_config, sections, start_daemon, write_config
from tests.servers.dovecot import Dovecot, free_port
from tests.servers.smtp_sink import Received, SmtpSink

ROOT = Path(__file__).resolve().parent.parent


# -- helpers -------------------------------------------------------------------------------
def acks(sink: SmtpSink) -> list[Received]:
    """Mail the sink got for the customer (agents' notifications go elsewhere)."""
    return [m for m in list(sink.messages) if m.rcpt_tos == [CUSTOMER]]


def in_reply_to(m: Received) -> str:
    return str(m.message["In-Reply-To"] or "").strip()


def restart_sink(sink: SmtpSink, port: int) -> None:
    """Start the same sink again on its old port (the daemon's config names that port)."""
    controller = Controller(sink, hostname=sink.host, port=port, ready_timeout=5)
    controller.start()
    sink._controller = controller
    sink.port = port


@pytest.fixture(autouse=True)
def _daemon_logs(caplog: pytest.LogCaptureFixture) -> None:
    """A failing test shows the daemon's story (state changes, lock, outbox) at INFO."""
    caplog.set_level(logging.INFO, logger="maildesk")


@pytest.fixture
def imap_app(
    make_app: Callable[..., App],
    registry_file: Path,
    tmp_path: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
) -> App:
    app = make_app(**sections(tmp_path, dovecot, smtp_sink))
    import_registry_file(app.db, registry_file)
    return app


# -- end to end ----------------------------------------------------------------------------
@pytest.mark.imap
def test_append_while_idle_is_ticketed_and_acknowledged(
    imap_app: App, dovecot: Dovecot, smtp_sink: SmtpSink, daemons: list[Daemon]
) -> None:
    d = start_daemon(imap_app, daemons)
    wait_until(lambda: d.consumer and d.consumer.state == "idle", 15, "the consumer to IDLE")
    latencies: list[float] = []
    for n in range(5):
        mid = f"<idle-{n}-{uuid.uuid4().hex}@acme.example>"
        t0 = time.monotonic()
        dovecot.append(None, make_mail(subject=f"Pedido {n}", message_id=mid))
        wait_until(lambda mid=mid: any(in_reply_to(m) == mid for m in acks(smtp_sink)), 15, "ack")
        latencies.append(time.monotonic() - t0)
        wait_until(lambda: d.consumer.state == "idle", 5, "IDLE again")  # type: ignore[union-attr]
    print(
        f"\nAPPEND -> acknowledgement at the SMTP sink: median {statistics.median(latencies):.3f}s"
        f" max {max(latencies):.3f}s over {len(latencies)} (IDLE, in-process daemon)"
    )
    assert count(imap_app, Ticket) == 5
    assert len(acks(smtp_sink)) == 5
    assert dovecot.folder_count(None, "INBOX") == 0
    assert dovecot.folder_count(None, "Processed") == 5
    ack = acks(smtp_sink)[0].message
    assert ack["Auto-Submitted"] == "auto-replied" and "BITAM #" in str(ack["Subject"])


@pytest.mark.imap
def test_s8_kill_between_commit_and_move_no_duplicate(
    imap_app: App,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    daemons: list[Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon 'dies' after the pipeline committed and before the MOVE: the patched move
    stops the daemon and raises, so the message stays in INBOX with its ticket (and queued
    acknowledgement) already committed, exactly the state a kill -9 at that instant leaves.
    (A real kill -9 cannot be timed into that window reliably.) A fresh daemon then offers
    the message again: R1 recognises it, nothing new is written, and it is moved."""
    first = Daemon(imap_app)
    crashed = threading.Event()

    def dying_move(self: ImapConsumer, client: Any, uids: list[int], folder: str) -> None:
        first.stop_event.set()  # the process is gone: nothing more happens after this
        crashed.set()
        raise OSError("killed between commit and MOVE")

    monkeypatch.setattr(ImapConsumer, "_move", dying_move)
    monkeypatch.setattr(first, "wake_sender", lambda: None)  # died before sending, too
    first.outbox_poll_seconds = 3600
    daemons.append(first)
    dovecot.append(None, make_mail(message_id="<crash-1@acme.example>"))
    first.start()
    wait_until(crashed.is_set, 15, "the commit and the failing move")
    first.stop()
    assert count(imap_app, Ticket) == 1
    assert dovecot.folder_count(None, "INBOX") == 1  # never moved

    monkeypatch.undo()
    second = start_daemon(imap_app, daemons)
    wait_until(lambda: dovecot.folder_count(None, "Processed") == 1, 15, "the move on restart")
    wait_until(lambda: acks(smtp_sink), 10, "the acknowledgement")
    time.sleep(1.0)  # a duplicate acknowledgement would arrive by now
    assert second.consumer is not None
    assert count(imap_app, Ticket) == 1
    assert len(acks(smtp_sink)) == 1
    assert dovecot.folder_count(None, "INBOX") == 0


@pytest.mark.imap
def test_s8_poison_message_quarantined_and_the_rest_go_on(
    imap_app: App,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    daemons: list[Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import maildesk.pipeline.accept as pipeline

    real_route = pipeline.route

    def route(msg: Any, *args: Any) -> Any:  # a bug only this message triggers
        if "poison@acme.example" in (msg.message_id or ""):
            raise RuntimeError("bug triggered by this message")
        return real_route(msg, *args)

    monkeypatch.setattr(pipeline, "route", route)
    dovecot.append_many(
        None,
        [
            make_mail(subject="uno", message_id="<ok-1@acme.example>"),
            make_mail(subject="veneno", message_id="<poison@acme.example>"),
            make_mail(subject="dos", message_id="<ok-2@acme.example>"),
        ],
    )
    d = start_daemon(imap_app, daemons)
    wait_until(lambda: dovecot.folder_count(None, "Quarantine") == 1, 20, "quarantine")
    wait_until(lambda: len(acks(smtp_sink)) == 2, 10, "two acknowledgements")
    assert dovecot.folder_count(None, "INBOX") == 0
    assert dovecot.folder_count(None, "Processed") == 2
    assert count(imap_app, Ticket) == 2
    with imap_app.db.transaction() as s:
        (q,) = s.scalars(select(Quarantine))
        assert "bug triggered by this message" in q.error
    # SPEC §8: three failures, then quarantine (the good mails of its batch were not held up)
    assert d.metrics.value("maildesk_inbound_total", outcome="quarantined") == 1
    assert d.metrics.value("maildesk_inbound_total", outcome="error") == 3


@pytest.mark.imap
def test_s8_dovecot_restarted_mid_run_daemon_continues(
    imap_app: App, dovecot: Dovecot, smtp_sink: SmtpSink, daemons: list[Daemon]
) -> None:
    d = start_daemon(imap_app, daemons)
    dovecot.append(None, make_mail(message_id="<before-restart@acme.example>"))
    wait_until(lambda: len(acks(smtp_sink)) == 1, 15, "the first acknowledgement")
    dovecot.restart()
    dovecot.append(None, make_mail(subject="otra", message_id="<after-restart@acme.example>"))
    wait_until(lambda: len(acks(smtp_sink)) == 2, 20, "the acknowledgement after the restart")
    assert count(imap_app, Ticket) == 2
    wait_until(lambda: dovecot.folder_count(None, "INBOX") == 0, 5, "INBOX empty")
    assert d.consumer is not None and d.consumer.state in ("connected", "idle")


@pytest.mark.imap
def test_s8_smtp_down_then_outbox_delivers_everything(
    imap_app: App, dovecot: Dovecot, smtp_sink: SmtpSink, daemons: list[Daemon]
) -> None:
    port = smtp_sink.port
    smtp_sink.stop()
    d = start_daemon(imap_app, daemons)
    dovecot.append_many(
        None,
        [make_mail(subject=f"caso {n}", message_id=f"<down-{n}@acme.example>") for n in (1, 2)],
    )
    wait_until(lambda: count(imap_app, Ticket) == 2, 15, "two tickets")
    time.sleep(2.0)  # the sender finds SMTP down a few times meanwhile
    assert acks(smtp_sink) == []
    with imap_app.db.transaction() as s:
        rows = list(s.scalars(select(Outbox)))
        # the connection failure cost the messages nothing: no attempt spent, none failed
        assert rows and all(r.state == "pending" and r.attempts == 0 for r in rows)
    restart_sink(smtp_sink, port)
    wait_until(lambda: len(acks(smtp_sink)) == 2, 10, "both acknowledgements")
    wait_until(lambda: d.render_metrics().count("maildesk_outbox_pending 0") == 1, 5, "empty")


def test_metrics_endpoint_counts_smtp_listener_outcomes(
    make_app: Callable[..., App], registry_file: Path, daemons: list[Daemon]
) -> None:
    smtp_port, metrics_port = free_port(), free_port()
    app = make_app(
        inbound={"mode": "smtp", "smtp": {"host": "127.0.0.1", "port": smtp_port}},
        metrics={"listen": f"127.0.0.1:{metrics_port}"},
    )
    import_registry_file(app.db, registry_file)
    start_daemon(app, daemons)
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = CUSTOMER, SUPPORT, "no imprime"
    m.set_content("Hola\n")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as s:
        s.send_message(m)
    outbox_new = Path(app.outbox_dir) / "new"
    wait_until(lambda: outbox_new.is_dir() and any(outbox_new.iterdir()), 10, "the ack file")
    url = f"http://127.0.0.1:{metrics_port}/metrics"

    def scrape() -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=")
            return resp.read().decode()

    def drained() -> str | None:
        text = scrape()
        sent = re.search(r"^maildesk_outbox_sent_total [1-9]", text, re.M)
        return text if "maildesk_outbox_pending 0" in text and sent else None

    text = wait_until(drained, 10, "an empty outbox")
    assert 'maildesk_inbound_total{outcome="ticketed"} 1.0' in text
    sent = re.search(r"^maildesk_outbox_sent_total (\d+)\.0$", text, re.M)
    assert sent and int(sent.group(1)) >= 1  # the acknowledgement (+ the agent's notice)
    assert "# TYPE maildesk_sla_breaches_total counter" in text
    # histograms people alert on, one observation per mail / delivery
    assert "maildesk_ingest_duration_seconds_count 1.0" in text
    assert "maildesk_mail_age_at_acknowledgement_seconds_count 1.0" in text
    delivered = re.search(r"^maildesk_outbox_delivery_latency_seconds_count (\d+)\.0$", text, re.M)
    assert delivered and int(delivered.group(1)) == int(sent.group(1))
    # the standard process metrics
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert re.search(rf"^{name} \d", text, re.M), name


# -- locks, notify ---------------------------------------------------------------------------
def test_mailbox_lock_standby_takes_over(db_url: str, tmp_path: Path) -> None:
    """Two instances, one mailbox: the second stands by until the first lets go (or dies)."""
    stop = threading.Event()
    if db_url.startswith("postgresql"):
        first: Any = PgAdvisoryLock(db_url, "imap:test:box", stop, 0.1)
        second: Any = PgAdvisoryLock(db_url, "imap:test:box", stop, 0.1)
    else:
        path = tmp_path / "box.lock"
        first = FileLock(path, "imap:test:box", stop, 0.1)
        second = FileLock(path, "imap:test:box", stop, 0.1)
    with first:
        pass
    with first:  # re-entered every pass while held
        pass
    got = threading.Event()

    def standby() -> None:
        with second:
            got.set()

    t = threading.Thread(target=standby, daemon=True)
    t.start()
    time.sleep(0.5)
    assert not got.is_set() and second.standby
    first.release()
    assert got.wait(5) and second.held
    second.release()
    t.join(2)


def test_sd_notify_abstract_socket_and_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"maildesk-notify-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1", "STATUS=up")
        assert sock.recv(100) == b"READY=1\nSTATUS=up"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not notify("READY=1")
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None


# -- the process -----------------------------------------------------------------------------
@pytest.mark.imap
def test_s8_sigterm_exits_0_within_10s(
    tmp_path: Path,
    registry_file: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    processes: list[DaemonProcess],
) -> None:
    db_url = sqlite_url(tmp_path)  # process behaviour: the database engine does not matter
    prepare_db(db_url, registry_file)
    cfg = write_config(
        tmp_path / "maildesk.toml", daemon_config(tmp_path, db_url, dovecot, smtp_sink)
    )
    p = DaemonProcess(tmp_path / "daemon.log", cfg, tmp_path, watchdog=True)
    processes.append(p)
    p.wait_notice("READY=1")
    dovecot.append(None, make_mail(message_id="<sigterm@acme.example>"))
    wait_until(lambda: acks(smtp_sink), 20, "the acknowledgement")
    p.wait_notice("WATCHDOG=1", 5)
    rc, took = p.stop(signal.SIGTERM)
    print(f"\nSIGTERM -> exit {rc} in {took:.2f}s")
    p._drain()
    assert rc == 0, p.log()
    assert took < 10, f"took {took:.1f}s"
    assert "STOPPING=1" in p.notices
    assert "daemon stopped" in p.log()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'maildesk.db'}"


def prepare_db(db_url: str, registry: Path) -> None:
    """Schema and registry before the daemon starts (its own upgrade is then a no-op)."""
    db = Database(db_url)
    try:
        db.upgrade()
        import_registry_file(db, registry)
    finally:
        db.dispose()


def test_sighup_reloads_agents_and_templates(
    tmp_path: Path, processes: list[DaemonProcess]
) -> None:
    db_url = sqlite_url(tmp_path)
    data = daemon_config(tmp_path, db_url, None, None)
    cfg = write_config(tmp_path / "maildesk.toml", dict(data))
    p = DaemonProcess(tmp_path / "daemon.log", cfg, tmp_path)
    processes.append(p)
    p.wait_notice("READY=1")
    data = daemon_config(tmp_path, db_url, None, None)
    data["agents"].append({"email": "nueva@support.example", "name": "Nueva", "skills": ["error"]})
    data["limits"] = {"notices_per_sender_per_hour": 5}
    write_config(cfg, data)
    p.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload: applied" in p.log(), 15, "the reload log line")
    line = next(x for x in p.log().splitlines() if "reload: applied" in x)
    assert "templates" in line and "agents" in line and "limits" in line
    db = Database(db_url)
    try:
        with db.transaction() as s:
            agent = s.scalar(select(Agent).where(Agent.email == "nueva@support.example"))
            assert agent is not None and agent.active
    finally:
        db.dispose()
    rc, _ = p.stop()
    assert rc == 0, p.log()


def test_embedded_defaults_smtp_listener_acknowledges(
    tmp_path: Path, registry_file: Path, processes: list[DaemonProcess]
) -> None:
    """No config file at all: SQLite ./maildesk.db, SMTP on 127.0.0.1:8025, ./outbox/."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listener does
        try:
            probe.bind(("127.0.0.1", 8025))
        except OSError:
            pytest.skip("127.0.0.1:8025 is busy: cannot test the embedded default listener")
    work = tmp_path / "empty"
    work.mkdir()
    prepare_db(f"sqlite:///{work / 'maildesk.db'}", registry_file)
    p = DaemonProcess(tmp_path / "daemon.log", None, work)
    processes.append(p)
    p.wait_notice("READY=1")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = CUSTOMER, "customerservice@localhost", "hola"
    m.set_content("El reporte no carga.\n")
    with smtplib.SMTP("127.0.0.1", 8025, timeout=10) as s:
        s.send_message(m)
    new = work / "outbox" / "new"
    files = wait_until(lambda: new.is_dir() and list(new.iterdir()), 10, "./outbox/new")
    ack = message_from_bytes(files[0].read_bytes())
    assert ack["To"] and CUSTOMER in ack["To"]
    assert "#1]" in str(ack["Subject"])
    rc, _ = p.stop()
    assert rc == 0, p.log()


@pytest.mark.imap
def test_s8_two_daemons_on_postgresql_process_each_message_once(
    tmp_path: Path,
    db_url: str,
    registry_file: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    processes: list[DaemonProcess],
) -> None:
    if not db_url.startswith("postgresql"):
        reason = "the SQLite variant: multi-instance is a PostgreSQL feature"
        if not PG_URL:
            reason += " (set MAILDESK_TEST_DATABASE_URL to run it)"
        pytest.skip(reason)
    prepare_db(db_url, registry_file)
    cfg = write_config(
        tmp_path / "maildesk.toml", daemon_config(tmp_path, db_url, dovecot, smtp_sink)
    )
    a = DaemonProcess(tmp_path / "a.log", cfg, tmp_path)
    b = DaemonProcess(tmp_path / "b.log", cfg, tmp_path)
    processes += [a, b]
    t0 = time.monotonic()
    a.wait_notice("READY=1")
    b.wait_notice("READY=1")
    t1 = time.monotonic()
    n = 50
    dovecot.append_many(
        None,
        [make_mail(subject=f"caso {i}", message_id=f"<pg-{i}@acme.example>") for i in range(n)],
    )
    wait_until(lambda: len(acks(smtp_sink)) >= n, 60, f"{n} acknowledgements")
    print(f"\ntwo daemons: ready in {t1 - t0:.1f}s, {n} acks in {time.monotonic() - t1:.1f}s")
    time.sleep(1.0)  # doubles would show up by now
    got = [in_reply_to(m) for m in acks(smtp_sink)]
    assert len(got) == n and len(set(got)) == n
    db = Database(db_url)
    try:
        with db.transaction() as s:
            assert s.scalar(select(func.count()).select_from(Ticket)) == n
    finally:
        db.dispose()
    assert dovecot.folder_count(None, "INBOX") == 0
    assert dovecot.folder_count(None, "Processed") == n
    holders = [p for p in (a, b) if "this instance consumes the mailbox" in p.log()]
    assert len(holders) == 1, "exactly one instance consumed the mailbox"
    # The holder dies without a word; the standby takes the mailbox over.
    holder = holders[0]
    standby = b if holder is a else a
    holder.proc.kill()
    holder.proc.wait(10)
    dovecot.append(None, make_mail(subject="tras la caída", message_id="<pg-after@acme.example>"))
    t2 = time.monotonic()
    wait_until(lambda: len(acks(smtp_sink)) == n + 1, 30, "the standby to take over")
    print(f"standby took over and acknowledged in {time.monotonic() - t2:.1f}s")
    assert "this instance consumes the mailbox" in standby.log()
    rc, took = standby.stop()
    assert rc == 0 and took < 10
