"""Issue 8 item 6, failed delivery is visible and repairable: a relayed answer or a notice that
fails for good tells the agent who wrote it and the ticket's assignee (not only the
supervisors), names the ticket and how to send it again, and `tickets show` marks the message
as not delivered. Through `accept`, the outbox sender and a real aiosmtpd server that refuses
with 550, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import json
from collections.abc import Callable
from datetime import timedelta
from email.policy import default
from pathlib import Path

import pytest

from maildesk.app import App
from maildesk.cli import main
from maildesk.outbound.sender import flush
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.registry import import_registry_file
from maildesk.store.models import Outbox
from maildesk.views import ticket_detail
from tests.helpers import NOW, make_mail, outbox
from tests.servers.smtp_sink import SmtpSink

AGENT1 = "agente1@support.example"
AGENT2 = "agente2@support.example"
SUPERVISOR = "jefe@support.example"
CUSTOMER = "ana@acme.example"


@pytest.fixture
def sink_app(make_app: Callable[..., App], registry_file: Path, smtp_sink: SmtpSink) -> App:
    app = make_app(outbound=smtp_sink.outbound(timeout=10))
    import_registry_file(app.db, registry_file)
    return app


def _ticket_answered_by(app: App, sink: SmtpSink, author: str, body: str) -> int:
    """A customer's ticket (assigned to agente1 by skill), every mail so far delivered; then
    `author` answers it from their mail client, and the server starts refusing the customer."""
    out = accept(app, make_mail(message_id="<c1@acme.example>"), "test", NOW)
    assert out.kind is Kind.TICKETED and out.ticket_number is not None
    number = out.ticket_number
    assert flush(app, NOW).failed == 0
    (note,) = [r for r in outbox(app, "agent_notification") if r.ticket_number == number]
    raw = make_mail(
        sender=author,
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body=body,
        in_reply_to=f"<{note.message_id}>",
    )
    assert accept(app, raw, "imap:support/INBOX/1:1", NOW + timedelta(minutes=5)).ticket_number
    sink.refuse, sink.refuse_only = 550, {CUSTOMER}  # "550 5.1.1 no such user", as it were
    return number


def _failure_mails(app: App) -> dict[str, Outbox]:
    rows = outbox(app, "delivery_failed")
    assert len({r.to_addr for r in rows}) == len(rows)  # each person told once
    return {r.to_addr: r for r in rows}


def _text(row: Outbox) -> tuple[str, str]:
    msg = email.message_from_bytes(row.raw, policy=default)
    return str(msg["Subject"]), msg.get_body(("plain",)).get_content()


def test_item6_relayed_answer_refused_tells_its_author_and_the_assignee(
    sink_app: App, smtp_sink: SmtpSink
) -> None:
    app = sink_app
    number = _ticket_answered_by(app, smtp_sink, AGENT2, "Hola Ana, ya quedó corregido.")
    report = flush(app, NOW + timedelta(minutes=6))
    assert (report.failed, report.sent, smtp_sink.refused) == (1, 3, 1)
    (relay,) = outbox(app, "agent_reply")
    assert (relay.state, relay.author) == ("failed", AGENT2)

    told = _failure_mails(app)
    assert set(told) == {AGENT2, AGENT1, SUPERVISOR}  # author, assignee, supervisor
    subject, text = _text(told[AGENT2])
    assert subject.count(f"[BITAM #{number}]") == 1  # the ticket, named once
    assert CUSTOMER in text and "550 5.7.1 Refused by test sink" in text  # as the server said
    assert f"maildesk outbox retry {relay.id}" in text
    assert "+52 81 5555 0000" in text  # the customer's phone: another way to reach them

    # The failure mails reached the staff in the same flush.
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages[-3:]) == sorted(told)

    # tickets show: the relayed answer is marked as not delivered (JSON and text).
    (shown,) = [m for m in ticket_detail(app, number)["messages"] if m["kind"] == "agent"
                and m["direction"] == "out"]  # fmt: skip
    assert shown["delivery"]["state"] == "failed"


def test_item6_notice_from_a_command_refused_tells_the_agent_who_ran_it(
    sink_app: App, smtp_sink: SmtpSink
) -> None:
    app = sink_app
    _ticket_answered_by(app, smtp_sink, AGENT1, "#resolve solucionado")
    flush(app, NOW + timedelta(minutes=6))
    (notice,) = outbox(app, "resolved")
    assert (notice.state, notice.author) == ("failed", AGENT1)
    assert set(_failure_mails(app)) == {AGENT1, SUPERVISOR}  # the author is the assignee


def test_item6_a_mail_to_staff_that_fails_never_alerts_the_failed_address(
    sink_app: App, smtp_sink: SmtpSink
) -> None:
    app = sink_app
    smtp_sink.refuse, smtp_sink.refuse_only = 550, {CUSTOMER, AGENT1}
    out = accept(app, make_mail(message_id="<c1@acme.example>"), "test", NOW)
    flush(app, NOW)
    (ack,) = outbox(app, "acknowledgement")
    (note,) = outbox(app, "agent_notification")
    assert ack.state == note.state == "failed" and ack.author is None
    alerts = outbox(app, "delivery_failed")
    by_subject = [(r.to_addr, _text(r)[1]) for r in alerts]
    # The acknowledgement's failure: assignee and supervisor; the notification's failure
    # (to the assignee himself): the supervisor only.
    assert sorted(to for to, text in by_subject if CUSTOMER in text) == [AGENT1, SUPERVISOR]
    assert [to for to, text in by_subject if CUSTOMER not in text] == [SUPERVISOR]
    assert out.ticket_number is not None


def test_item6_cli_tickets_show_says_not_delivered(
    sink_app: App, smtp_sink: SmtpSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = sink_app
    number = _ticket_answered_by(app, smtp_sink, AGENT2, "Hola Ana, ya quedó corregido.")
    flush(app, NOW + timedelta(minutes=6))
    config = tmp_path / "maildesk.toml"
    config.write_text(
        f'[support]\naddress = "customerservice@support.example"\nlanguage = "en"\n'
        f'[database]\nurl = "{app.cfg.database.url}"\n[inbound]\nmode = "none"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "tickets", "show", str(number)]) == 0
    assert "NOT DELIVERED after 1 attempts" in capsys.readouterr().out
    assert main(["--config", str(config), "tickets", "show", str(number), "--json"]) == 0
    messages = json.loads(capsys.readouterr().out)["messages"]
    failed = [m for m in messages if (m["delivery"] or {}).get("state") == "failed"]
    assert [m["kind"] for m in failed] == ["agent"]
