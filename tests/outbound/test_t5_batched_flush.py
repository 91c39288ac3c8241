"""T5 in batches (issue 12, the flush margin): a claimed batch goes over one SMTP session,
pipelined when the server offers PIPELINING, or into the maildir with its files synced
together; every mail is still recorded on its own as soon as it is through, so a refusal,
a crash or a server that goes away in the middle of a batch costs what it cost one mail at a
time. On SQLite and PostgreSQL."""

from __future__ import annotations

import stat
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.outbound.claims import Claimer
from maildesk.outbound.sender import BATCH, backoff, flush
from maildesk.outbound.transports import MaildirTransport, SmtpTransport
from maildesk.store.models import Outbox
from tests.helpers import NOW
from tests.servers.smtp_sink import SmtpSink

SUPPORT = "customerservice@support.example"
SUPERVISOR = "jefe@support.example"


def _queue(app: App, n: int, body: str = "mensaje {i}\n") -> list[int]:
    ids = []
    with app.db.transaction() as s:
        for i in range(n):
            m = EmailMessage()
            m["From"], m["To"] = SUPPORT, f"cliente{i}@acme.example"
            m["Subject"], m["Date"] = f"Aviso {i}", format_datetime(NOW)
            m["Message-ID"] = mid = make_msgid(domain="support.example")
            m.set_content(body.format(i=i))
            row = Outbox(
                created_at=NOW,
                due_at=NOW,
                template="test",
                to_addr=f"cliente{i}@acme.example",
                message_id=mid.strip("<>"),
                raw=m.as_bytes(policy=m.policy.clone(linesep="\r\n")),
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


def _smtp_app(make_app: Callable[..., App], port: int) -> App:
    conf = {"mode": "smtp", "host": "127.0.0.1", "port": port, "starttls": False, "timeout": 10}
    return make_app(outbound=conf)


def _ids(sink: SmtpSink) -> list[str]:
    return [m.message["Message-ID"].strip("<>") for m in sink.messages]


@pytest.mark.parametrize("pipelining", [True, False])
def test_t5_a_batch_goes_over_one_session_each_mail_once(
    make_app: Callable[..., App], smtp_sink: SmtpSink, pipelining: bool
) -> None:
    smtp_sink.pipelining = pipelining
    app = _smtp_app(make_app, smtp_sink.port)
    _queue(app, BATCH + 7, body="mensaje {i}\n.\n.. punto al principio\n")
    report = flush(app, NOW)
    assert (report.sent, report.retried, report.failed) == (BATCH + 7, 0, 0)
    assert smtp_sink.sessions == 1  # two claimed batches, one session
    rows = _rows(app)
    assert sorted(_ids(smtp_sink)) == sorted(r.message_id for r in rows.values())
    assert {(r.state, r.attempts, r.claimed_by) for r in rows.values()} == {("sent", 1, None)}
    # dot-stuffing undone by the server: the lines starting with "." arrive as written
    content = smtp_sink.messages[0].message.get_content().replace("\r\n", "\n")
    assert content == "mensaje 0\n.\n.. punto al principio\n"


def test_t5_pipelined_refusals_cost_only_their_own_mail(
    make_app: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    """A 550 for one recipient and a 451 for another inside one pipelined batch: those two
    are recorded as failed and as a retry, the mails around them are delivered on the same
    session."""
    app = _smtp_app(make_app, smtp_sink.port)
    ids = _queue(app, 6)
    smtp_sink.refuse, smtp_sink.refuse_only = 550, {"cliente2@acme.example"}
    flaky = _RefuseDataOnce(smtp_sink, "cliente4@acme.example")
    report = flush(app, NOW)
    # the four, and the failure alert the 550 queued (to the supervisor), in the same flush
    assert (report.sent, report.retried, report.failed) == (5, 1, 1)
    assert smtp_sink.sessions == 1 and flaky.refused == 1
    rows = _rows(app)
    assert (rows[ids[2]].state, rows[ids[2]].attempts) == ("failed", 1)
    assert "550" in (rows[ids[2]].last_error or "")
    assert (rows[ids[4]].state, rows[ids[4]].due_at) == ("pending", NOW + backoff(1))
    assert {rows[i].state for i in (ids[0], ids[1], ids[3], ids[5])} == {"sent"}
    delivered = sorted(m.rcpt_tos[0] for m in smtp_sink.messages)
    assert delivered == [f"cliente{i}@acme.example" for i in (0, 1, 3, 5)] + [SUPERVISOR]


class _RefuseDataOnce:
    """Make the sink answer 451 to the end of one recipient's data, the first time only."""

    def __init__(self, sink: SmtpSink, rcpt: str) -> None:
        self.refused = 0
        original = sink.handle_DATA

        async def handle_DATA(server: Any, session: Any, envelope: Any) -> str:
            if rcpt in envelope.rcpt_tos and not self.refused:
                self.refused += 1
                return "451 4.3.0 try again"
            return await original(server, session, envelope)

        sink.handle_DATA = handle_DATA  # type: ignore[method-assign]


def test_t5_server_gone_mid_batch_keeps_what_was_delivered(
    make_app: Callable[..., App], smtp_sink: SmtpSink
) -> None:
    """The server stops after the third mail: three are recorded sent, the fourth is a
    retry (its session broke), so is the fifth (no new session: the batch stops there, as
    a flush stops at a server it cannot reach), the rest are given back untouched."""
    app = _smtp_app(make_app, smtp_sink.port)
    ids = _queue(app, 8)
    transport = SmtpTransport(app)
    real = transport._send_one

    def send_one(sender: str, rcpt: str, raw: bytes) -> None:
        if len(smtp_sink.messages) == 3:
            smtp_sink.stop()
        real(sender, rcpt, raw)

    transport._send_one = send_one  # type: ignore[method-assign]
    report = flush(app, NOW, transport=transport)
    transport.close()
    rows = _rows(app)
    assert report.sent == 3 and len(smtp_sink.messages) == 3
    assert [rows[i].state for i in ids[:3]] == ["sent"] * 3
    assert {(rows[i].state, rows[i].attempts) for i in ids[3:5]} == {("pending", 1)}
    assert {(rows[i].state, rows[i].attempts, rows[i].due_at) for i in ids[5:]} == {
        ("pending", 0, NOW)
    }
    assert not any(r.claimed_by for r in rows.values())


def test_t5_maildir_batch_each_file_once_synced_private(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    app = make_app()
    _queue(app, BATCH + 3)
    assert flush(app, NOW).sent == BATCH + 3
    assert flush(app, NOW).sent == 0
    new = tmp_path / "outbox" / "new"
    files = list(new.iterdir())
    assert len(files) == BATCH + 3 and not list((tmp_path / "outbox" / "tmp").iterdir())
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    ids = {f.read_bytes().split(b"Message-ID: <")[1].split(b">")[0].decode() for f in files}
    assert ids == {r.message_id for r in _rows(app).values()}


def test_t5_maildir_stopped_mid_batch_leaves_no_file_for_mail_not_recorded(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    """A sender that stops taking results (killed between two mails) has moved into new/
    exactly the mails it was told about; the files it had written for the others are gone
    from tmp/, their rows are still the claim's (to be taken back and sent once)."""
    app = make_app()
    _queue(app, 5)
    box = MaildirTransport(str(tmp_path / "outbox"))
    mails = [("s@x", f"r{i}@x", f"Subject: {i}\r\n\r\nbody {i}\r\n".encode()) for i in range(5)]
    results = box.send_many(mails)
    assert [next(results), next(results)] == [(0, None), (1, None)]
    results.close()
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 2
    assert not list((tmp_path / "outbox" / "tmp").iterdir())


def test_t5_claim_takes_no_row_another_live_sender_holds(make_app: Callable[..., App]) -> None:
    """Two claimers at once never share a row (PostgreSQL: the second cannot take the
    first's locks; SQLite: the first's process is alive and its lease runs)."""
    app = make_app()
    _queue(app, 6)
    with Claimer(app) as first, Claimer(app) as second:
        a = first.claim(NOW, 4)
        b = second.claim(NOW, 10)
        assert len(a) == 4 and len(b) == 2
        assert not {r.id for r in a} & {r.id for r in b}
        assert second.claim(NOW, 10) == []


def test_t5_pg_rows_of_a_dead_claimer_are_taken_over_once(
    make_app: Callable[..., App], db_url: str
) -> None:
    """PostgreSQL: a claimer whose connection dies leaves its rows `sending`; the next
    claim takes them over at once, and a row the dead claimer had recorded is not taken."""
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    app = make_app()
    ids = _queue(app, 3)
    dead = Claimer(app)
    assert len(dead.claim(NOW, 3)) == 3
    assert dead.sent(ids[0], NOW)
    dead.conn.invalidate()  # the process is killed: its session ends on the server
    with Claimer(app) as heir:
        assert sorted(r.id for r in heir.claim(NOW, 10)) == ids[1:]
