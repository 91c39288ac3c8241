"""T5 outbox sender against real peers: a maildir, and a real aiosmtpd server that accepts,
refuses (451/550), speaks STARTTLS / implicit TLS and wants AUTH. Every row is delivered once;
retries back off; after outbound.max_attempts the supervisors are alerted (never recursively)."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from maildesk.app import App
from maildesk.mail.verp import return_path
from maildesk.outbound.claims import LEASE, claim
from maildesk.outbound.sender import backoff, flush
from maildesk.outbound.transports import SmtpTransport
from maildesk.store.models import Outbox
from tests.helpers import NOW, outbox
from tests.servers.dovecot import free_port
from tests.servers.smtp_sink import SmtpSink

SUPPORT = "customerservice@support.example"
SUPERVISOR = "jefe@support.example"


def _queue(app: App, n: int, to: str = "cliente{i}@acme.example", template: str = "test") -> list:
    """n due outbox rows with distinct Message-IDs (written as the pipeline would)."""
    ids = []
    with app.db.transaction() as s:
        for i in range(n):
            m = EmailMessage()
            m["From"], m["To"] = SUPPORT, to.format(i=i)
            m["Subject"] = f"Aviso {i}"
            m["Date"] = format_datetime(NOW)
            m["Message-ID"] = mid = make_msgid(domain="support.example")
            m.set_content(f"mensaje {i}\n")
            row = Outbox(
                created_at=NOW,
                due_at=NOW,
                template=template,
                to_addr=to.format(i=i),
                message_id=mid.strip("<>"),
                raw=m.as_bytes(),
                state="pending",
                attempts=0,
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def _rows(app: App) -> dict[int, Outbox]:
    with app.db.transaction() as s:
        return {r.id: r for r in s.scalars(select(Outbox).order_by(Outbox.id))}


def _smtp_app(make_app: Callable[..., App], port: int, **outbound: Any) -> App:
    conf = {"mode": "smtp", "host": "127.0.0.1", "port": port, "starttls": False, "timeout": 10}
    return make_app(outbound={**conf, **outbound})


# --- maildir ---------------------------------------------------------------------------------


def test_t5_maildir_delivers_each_row_once(make_app: Callable[..., App], tmp_path: Path) -> None:
    app = make_app()
    _queue(app, 3)
    assert flush(app, NOW).sent == 3
    assert flush(app, NOW + timedelta(hours=1)).sent == 0  # nothing twice
    files = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 3 and not list((tmp_path / "outbox" / "tmp").iterdir())
    subjects = sorted(f.read_bytes().split(b"Subject: ")[1].split(b"\n")[0] for f in files)
    assert subjects == [b"Aviso 0", b"Aviso 1", b"Aviso 2"]
    assert {(r.state, r.attempts, r.sent_at) for r in _rows(app).values()} == {("sent", 1, NOW)}


# --- SMTP ------------------------------------------------------------------------------------


def test_t5_smtp_delivers_to_the_server(make_app: Callable[..., App], smtp_sink: SmtpSink) -> None:
    app = _smtp_app(make_app, smtp_sink.port)
    ids = _queue(app, 2)
    report = flush(app, NOW)
    assert (report.sent, report.retried, report.failed) == (2, 0, 0)
    got = smtp_sink.wait_for(2)
    assert [(m.mail_from, m.rcpt_tos) for m in got] == [  # one return path per row (verp.py)
        (return_path(app.secret, SUPPORT, ids[0]), ["cliente0@acme.example"]),
        (return_path(app.secret, SUPPORT, ids[1]), ["cliente1@acme.example"]),
    ]
    rows = _rows(app)
    assert [got[i].message["Message-ID"].strip("<>") for i in range(2)] == [
        rows[i].message_id for i in ids
    ]
    assert all(r.state == "sent" for r in rows.values())


def test_t5_smtp_refuses_then_accepts_retries_with_backoff(
    make_app: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = _smtp_app(make_app, smtp_sink.port)
    (row_id,) = _queue(app, 1)
    smtp_sink.refuse = 451
    report = flush(app, NOW)
    assert (report.sent, report.retried) == (0, 1) and "451" in report.errors[0]
    row = _rows(app)[row_id]
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.due_at == NOW + backoff(1) and row.due_at > NOW
    assert flush(app, NOW + timedelta(seconds=1)).retried == 0  # not due yet: not tried
    assert smtp_sink.refused == 1
    smtp_sink.refuse = None
    assert flush(app, row.due_at).sent == 1
    assert len(smtp_sink.wait_for(1)) == 1 and len(smtp_sink.messages) == 1
    row = _rows(app)[row_id]
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)


def test_t5_backoff_is_exponential_and_capped() -> None:
    steps = [backoff(n).total_seconds() for n in range(1, 10)]
    assert steps[:4] == [30, 60, 120, 240]
    assert max(steps) == 3600 and steps == sorted(steps)


def test_t5_gives_up_after_max_attempts_and_alerts_supervisors(
    make_app: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    app = _smtp_app(make_app, smtp_sink.port, max_attempts=3)
    (row_id,) = _queue(app, 1)
    smtp_sink.refuse = 451
    when = NOW
    for _ in range(3):
        flush(app, when)
        when += timedelta(hours=2)
    row = _rows(app)[row_id]
    assert (row.state, row.attempts) == ("failed", 3) and "451" in (row.last_error or "")
    (alert,) = outbox(app, "delivery_failed")
    assert alert.to_addr == SUPERVISOR and b"cliente0@acme.example" in alert.raw
    # The alert cannot be delivered either: it fails in turn, and no alert about the alert.
    for _ in range(4):
        flush(app, when)
        when += timedelta(hours=2)
    assert [r.state for r in outbox(app, "delivery_failed")] == ["failed"]
    smtp_sink.refuse = None
    assert flush(app, when).sent == 0 and smtp_sink.messages == []


class _RefusesCustomers(SmtpSink):
    """Refuses one recipient for good (550 at RCPT), accepts the rest."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:  # fmt: skip
        if address == "cliente0@acme.example":
            self.refused += 1
            return "550 5.1.1 No such user"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_t5_permanent_550_fails_at_once_and_alerts(make_app: Callable[..., App]) -> None:
    sink = _RefusesCustomers()
    sink.start()
    try:
        app = _smtp_app(make_app, sink.port)
        (row_id,) = _queue(app, 1)
        report = flush(app, NOW)
        assert (report.failed, report.sent) == (1, 1)  # the row, then the alert about it
        row = _rows(app)[row_id]
        assert (row.state, row.attempts) == ("failed", 1) and "550" in (row.last_error or "")
        (got,) = sink.wait_for(1)
        assert got.rcpt_tos == [SUPERVISOR] and b"cliente0@acme.example" in got.raw
        assert flush(app, NOW + timedelta(days=1)).failed == 0  # a failed row is never retried
        assert sink.refused == 1 and _rows(app)[row_id].state == "failed"
    finally:
        sink.stop()


def test_t5_server_down_stops_the_batch_without_burning_attempts(
    make_app: Callable[..., App],
) -> None:
    app = _smtp_app(make_app, free_port())  # nobody listens there
    ids = _queue(app, 5)
    report = flush(app, NOW)
    assert (report.sent, report.retried) == (0, 1)  # one connection attempt, not five
    rows = _rows(app)
    assert (rows[ids[0]].state, rows[ids[0]].attempts) == ("pending", 1)
    assert rows[ids[0]].due_at == NOW + backoff(1)
    assert {(rows[i].state, rows[i].attempts, rows[i].due_at) for i in ids[1:]} == {
        ("pending", 0, NOW)
    }


@pytest.mark.parametrize("senders", [2, 3])
def test_t5_two_senders_never_send_one_row_twice(
    make_app: Callable[..., App], smtp_sink: SmtpSink, senders: int
) -> None:
    """Several daemons on one database (SQLite: BEGIN IMMEDIATE; PostgreSQL: SKIP LOCKED)."""
    apps = [_smtp_app(make_app, smtp_sink.port) for _ in range(senders)]
    ids = _queue(apps[0], 40)
    start = threading.Barrier(senders)
    errors: list[BaseException] = []
    sent: list[int] = []

    def run(app: App) -> None:
        try:
            start.wait()
            sent.append(flush(app, NOW, limit=3).sent)
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(sent) == 40
    got = [m.message["Message-ID"].strip("<>") for m in smtp_sink.messages]
    assert len(got) == 40 and len(set(got)) == 40
    assert sorted(got) == sorted(r.message_id for r in _rows(apps[0]).values())
    assert {r.state for r in _rows(apps[0]).values()} == {"sent"} and len(ids) == 40


def test_t5_crash_after_claim_is_retried_after_the_lease(
    make_app: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    """A claim whose sender is gone: on SQLite a claimer that looks alive (here: this very
    process) is waited for until its lease runs out; on PostgreSQL the claim's advisory locks
    ended with its connection, so the next sender takes the rows at once."""
    app = _smtp_app(make_app, smtp_sink.port)
    _queue(app, 2)
    assert len(claim(app, NOW, 10)) == 2  # ...and the sender dies here
    assert {r.state for r in _rows(app).values()} == {"sending"}
    if app.db.dialect == "postgresql":
        assert flush(app, NOW + timedelta(minutes=1)).sent == 2
    else:
        assert flush(app, NOW + timedelta(minutes=1)).sent == 0  # the lease still holds
        assert flush(app, NOW + LEASE + timedelta(seconds=1)).sent == 2
    assert len(smtp_sink.wait_for(2)) == 2
    assert {(r.state, r.attempts, r.claimed_by) for r in _rows(app).values()} == {("sent", 1, None)}


# --- TLS and AUTH ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (openssl CLI)."""
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return crt, key


class _AuthSink(SmtpSink):
    """The test sink behind TLS (STARTTLS or implicit) that demands AUTH."""

    def __init__(self, cert: tuple[Path, Path], implicit: bool) -> None:
        super().__init__()
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(*cert)
        self.implicit = implicit
        self.logins: list[tuple[bytes, bytes]] = []

    def authenticate(self, server: Any, session: Any, envelope: Any, mech: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        ok = (data.login, data.password) == (b"desk", b"s3cr3t pass")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    def start(self) -> None:
        self.port = free_port(self.host)
        tls: dict[str, Any] = (
            {"ssl_context": self.tls} if self.implicit else {"tls_context": self.tls}
        )
        self._controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            ready_timeout=5,
            authenticator=self.authenticate,
            # aiosmtpd only counts STARTTLS as TLS (and warns on AUTH-required without it);
            # with implicit TLS the whole session is TLS: AUTH offered, the login still checked.
            auth_required=not self.implicit,
            auth_require_tls=not self.implicit,
            require_starttls=not self.implicit,
            **tls,
        )
        self._controller.start()


@pytest.fixture(params=["starttls", "implicit"])
def auth_sink(request: pytest.FixtureRequest, cert: tuple[Path, Path]) -> Iterator[_AuthSink]:
    sink = _AuthSink(cert, implicit=request.param == "implicit")
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def _tls_app(make_app: Callable[..., App], sink: _AuthSink, tmp_path: Path, pw: str) -> App:
    secret = tmp_path / "smtp.secret"
    secret.write_text(pw + "\n", encoding="utf-8")
    return _smtp_app(
        make_app,
        sink.port,
        starttls=not sink.implicit,
        ssl=sink.implicit,
        username="desk",
        password_file=str(secret),
    )


def test_t5_smtp_tls_and_auth_with_password_file(
    make_app: Callable[..., App], auth_sink: _AuthSink, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    app = _tls_app(make_app, auth_sink, tmp_path, "s3cr3t pass")
    _queue(app, 2)
    transport = SmtpTransport(app, ssl_context=ssl.create_default_context(cafile=str(cert[0])))
    try:
        assert flush(app, NOW, transport=transport).sent == 2
    finally:
        transport.close()
    assert len(auth_sink.wait_for(2)) == 2
    assert auth_sink.logins == [(b"desk", b"s3cr3t pass")]  # one session, the file's password


def test_t5_smtp_wrong_password_retries_later(
    make_app: Callable[..., App], auth_sink: _AuthSink, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    app = _tls_app(make_app, auth_sink, tmp_path, "wrong")
    ids = _queue(app, 3)
    transport = SmtpTransport(app, ssl_context=ssl.create_default_context(cafile=str(cert[0])))
    try:
        report = flush(app, NOW, transport=transport)
    finally:
        transport.close()
    assert (report.sent, report.retried) == (0, 1) and "Authentication" in report.errors[0]
    assert "wrong" not in report.errors[0]  # secrets never in errors or logs
    assert auth_sink.messages == [] and _rows(app)[ids[0]].attempts == 1


def test_t5_smtp_untrusted_certificate_is_not_used(
    make_app: Callable[..., App], auth_sink: _AuthSink, tmp_path: Path
) -> None:
    """With the system trust store, a self-signed server is refused: no password sent."""
    app = _tls_app(make_app, auth_sink, tmp_path, "s3cr3t pass")
    _queue(app, 1)
    report = flush(app, NOW)
    assert report.retried == 1 and "CERTIFICATE_VERIFY_FAILED" in report.errors[0]
    assert auth_sink.logins == [] and auth_sink.messages == []
