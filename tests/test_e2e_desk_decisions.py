"""Issue 8's "done when", items 4–8, through the running daemon: mail goes into a real Dovecot
mailbox, the daemon (IMAP IDLE in, SMTP out, its own timer sweeps) does the rest, and what
people read is what a real aiosmtpd server received; the operator's side is the `maildesk`
command line on the same database. On SQLite and PostgreSQL.

- a committee member who is not an agent answers `#viable si` and the customer gets the
  decision (item 4);
- a relay refused with a 5xx produces a failure mail to its author and shows in
  `outbox list --failed`, and `outbox retry` delivers it once the server accepts (item 6);
- a reopened ticket is not escalated as breached at the next sweep (item 7).
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.cli import main
from maildesk.daemon import Daemon
from maildesk.domain.lifecycle import State
from maildesk.registry import import_registry_file
from maildesk.store.models import Outbox, Ticket
from tests.helpers import make_mail, wait_until
from tests.servers.daemon import sections, start_daemon
from tests.servers.dovecot import Dovecot
from tests.servers.smtp_sink import SmtpSink

UNO, DOS = "agente1@support.example", "agente2@support.example"
CUSTOMER = "ana@acme.example"
MEMBER = "producto@support.example"  # on the feature committee, not an agent
SUPERVISOR = "jefe@support.example"


@pytest.fixture
def desk(
    make_app: Callable[..., App],
    registry_file: Path,
    tmp_path: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    daemons: list[Daemon],
) -> App:
    """The daemon on the support mailbox, delivering through the SMTP sink, sweeping the
    timers every second, with a committee member who is not an agent."""
    app = make_app(
        **sections(tmp_path, dovecot, smtp_sink),
        committee={"members": [MEMBER]},
        timers={"interval_seconds": 1},
    )
    import_registry_file(app.db, registry_file)
    d = start_daemon(app, daemons)
    wait_until(lambda: d.consumer and d.consumer.state == "idle", 20, "the consumer to IDLE")
    return app


@pytest.fixture
def cli(tmp_path: Path, desk: App, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """`maildesk ARGS` on the daemon's database, as the operator types it; returns stdout."""
    config = tmp_path / "operator.toml"
    config.write_text(
        f'[support]\naddress = "customerservice@support.example"\nlanguage = "en"\n'
        f'[database]\nurl = "{desk.cfg.database.url}"\n[inbound]\nmode = "none"\n',
        encoding="utf-8",
    )

    def run(*argv: str) -> str:
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        try:
            code = main(["--config", str(config), *argv])
        finally:
            monkeypatch.undo()
        assert code == 0, (argv, out.getvalue())
        return out.getvalue()

    return run


def _mail_to(sink: SmtpSink, to: str, subject_has: str, after: int = 0) -> EmailMessage:
    """Wait for the mail to `to` whose subject contains `subject_has` (among the sink's
    messages from index `after` on), as its mail client reads it."""

    def found() -> EmailMessage | None:
        for r in list(sink.messages)[after:]:
            if to in r.rcpt_tos and subject_has in str(r.message["Subject"]):
                return r.message
        return None

    return wait_until(found, 30, f"mail to {to} about {subject_has!r}")


def _mails_to(sink: SmtpSink, to: str, n: int) -> list[EmailMessage]:
    """Wait until `to` has received `n` mails; the first `n`, in the order they arrived."""

    def arrived() -> list[EmailMessage] | None:
        mails = [r.message for r in list(sink.messages) if to in r.rcpt_tos]
        return mails[:n] if len(mails) >= n else None

    return wait_until(arrived, 30, f"{n} mails to {to}")


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return " ".join(body.get_content().split())


def _reply(dovecot: Dovecot, sender: str, to: EmailMessage, body: str) -> None:
    """`sender` answers `to` from their mail client; it lands in the support mailbox."""
    dovecot.append(
        None,
        make_mail(
            sender=sender,
            subject=f"Re: {to['Subject']}",
            body=body,
            in_reply_to=f"<{to['Message-ID'].strip('<>')}>",
            references=f"<{to['Message-ID'].strip('<>')}>",
        ),
    )


def _ticket(app: App, number: int) -> Ticket:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        return t


@pytest.mark.imap
def test_issue8_committee_member_not_an_agent_decides_and_the_customer_hears(
    desk: App, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    dovecot.append(None, make_mail(subject="Exportar a Excel", body="¿Pueden agregarlo?\n"))
    note = _mail_to(smtp_sink, UNO, "Exportar a Excel")
    _reply(dovecot, UNO, note, "#tipo nuevo_requerimiento\nHola Ana, lo turnamos al comité.")
    forward = _mail_to(smtp_sink, MEMBER, "Nuevo requerimiento")
    # The customer reads the agent's answer, then that the request went to the committee
    # and the date by which they will hear back, in words.
    _, answer, told = _mails_to(smtp_sink, CUSTOMER, 3)
    assert "lo turnamos al comité" in _text(answer)
    assert "comité interno" in _text(told) and "a más tardar el" in _text(told)

    before = len(smtp_sink.messages)
    _reply(dovecot, MEMBER, forward, "#viable si Entra en la versión 5.3\nSaludos, Pedro")
    decision = _mail_to(smtp_sink, CUSTOMER, "Exportar a Excel", after=before)
    text = _text(decision)
    assert "se considera viable" in text and "Entra en la versión 5.3" in text
    assert "Pedro" not in text
    assert _ticket(desk, 1).viable == "yes"
    assert "comité" in _text(_mail_to(smtp_sink, UNO, "Exportar a Excel", after=before))


@pytest.mark.imap
def test_issue8_relay_refused_5xx_tells_its_author_and_outbox_retry_delivers_it(
    desk: App, dovecot: Dovecot, smtp_sink: SmtpSink, cli: Callable[..., str]
) -> None:
    dovecot.append(None, make_mail(subject="No carga el tablero", body="Sale en blanco.\n"))
    note = _mail_to(smtp_sink, UNO, "No carga el tablero")
    _mail_to(smtp_sink, CUSTOMER, "No carga el tablero")  # the acknowledgement
    smtp_sink.refuse, smtp_sink.refuse_only = 550, {CUSTOMER}  # "no such user", for a while
    _reply(dovecot, DOS, note, "Hola Ana, borre la caché del navegador y vuelva a entrar.")

    failure = _mail_to(smtp_sink, DOS, "Entrega fallida")  # to its author...
    assert "[BITAM #1]" in str(failure["Subject"])
    assert CUSTOMER in _text(failure) and "550" in _text(failure)
    _mail_to(smtp_sink, UNO, "Entrega fallida")  # ...and to the assignee
    failed = json.loads(cli("outbox", "list", "--failed", "--json"))
    (row,) = failed
    assert (row["to_addr"], row["template"], row["state"]) == (CUSTOMER, "agent_reply", "failed")
    assert f"outbox retry {row['id']}" in _text(failure)
    shown = json.loads(cli("tickets", "show", "1", "--json"))
    answer = [m for m in shown["messages"] if m["kind"] == "agent" and m["direction"] == "out"]
    assert answer[0]["delivery"]["state"] == "failed"

    smtp_sink.refuse = None  # the customer's server is back
    before = len(smtp_sink.messages)
    assert "will be sent again" in cli("outbox", "retry", str(row["id"]))
    relayed = _mail_to(smtp_sink, CUSTOMER, "No carga el tablero", after=before)
    assert "borre la caché" in _text(relayed)
    assert json.loads(cli("outbox", "list", "--failed", "--json")) == []


@pytest.mark.imap
def test_issue8_reopened_ticket_is_not_escalated_as_breached_at_the_next_sweep(
    desk: App, dovecot: Dovecot, smtp_sink: SmtpSink, daemons: list[Daemon]
) -> None:
    dovecot.append(None, make_mail(subject="Se cae el timbrado", body="Desde las 9.\n"))
    note = _mail_to(smtp_sink, UNO, "Se cae el timbrado")
    _reply(dovecot, UNO, note, "#prioridad urgente\n#resuelto\nReiniciamos el servicio.")
    _, _, resolved = _mails_to(smtp_sink, CUSTOMER, 3)  # acknowledgement, answer, resolved
    wait_until(lambda: _ticket(desk, 1).state == "resolved", 20, "the ticket to be resolved")
    # Make it last week's ticket: opened and resolved within its 4 hours, days ago (the
    # timers read stored timestamps, so this is what a week of calendar would have done).
    with desk.db.transaction() as s:
        t = s.get(Ticket, 1)
        assert t is not None
        shift = timedelta(days=6)
        t.created_at -= shift
        t.resolved_at = (t.resolved_at or t.created_at) - shift
        t.sla_due_at = (t.sla_due_at or t.created_at) - shift
        t.sla_warn_at = None if t.sla_warn_at is None else t.sla_warn_at - shift

    dovecot.append(
        None,
        make_mail(
            subject=f"Re: {resolved['Subject']}",
            body="Volvió a caerse esta mañana.\n",
            message_id=f"<{uuid.uuid4().hex}@acme.example>",
            in_reply_to=f"<{resolved['Message-ID'].strip('<>')}>",
        ),
    )
    wait_until(lambda: _ticket(desk, 1).state == "open", 20, "the reply to reopen the ticket")
    d = daemons[0]
    runs = d.metrics.value("maildesk_timer_runs_total")
    wait_until(
        lambda: d.metrics.value("maildesk_timer_runs_total") >= runs + 2, 20, "two more sweeps"
    )
    t = _ticket(desk, 1)
    assert t.state is State.OPEN and not t.sla_breached and t.sla_due_at is not None
    assert t.reopened_at is not None and t.sla_due_at > t.reopened_at
    with desk.db.transaction() as s:
        escalations = s.scalars(
            select(Outbox.template).where(Outbox.template.in_(("sla_breach", "sla_warning")))
        ).all()
    assert escalations == []
