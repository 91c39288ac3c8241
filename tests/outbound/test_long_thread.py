"""Issue 9 §2, long conversations keep working: a 60-message thread still delivers through an
SMTP server that refuses lines over 998 octets, and its `References` keep the thread's first
id and the newest, only ids of mail the customer saw (SPEC §10 "Headers")."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes, policy

from maildesk.app import App
from maildesk.outbound.sender import flush
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.registry import import_registry_file
from tests.helpers import NOW, make_mail, outbox
from tests.servers.smtp_sink import SmtpSink

AGENT = "agente1@support.example"
CUSTOMER = "ana@acme.example"


def _outlook_id(n: int) -> str:
    """Message-IDs as Exchange Online writes them: about 80 characters each, so twenty of
    them make a 1 700-octet `References` unless it is folded."""
    host = f"DM6PR11MB41{n:04d}"
    return f"{host}A1B2C3D4E5F6A7B8C9D0E1F2A3B4@{host}.namprd11.prod.outlook.com"


def _ids(value: object) -> list[str]:
    return re.findall(r"<([^>]+)>", str(value or ""))


def test_issue9_sixty_message_thread_delivers_through_a_strict_server(
    make_app: Callable[..., App], registry_file, strict_smtp_sink: SmtpSink
) -> None:
    app = make_app(outbound=strict_smtp_sink.outbound(timeout=10))
    import_registry_file(app.db, registry_file)
    first = _outlook_id(0)
    out = accept(app, make_mail(message_id=f"<{first}>", subject="Timbrado falla"), "t", NOW)
    assert out.kind is Kind.TICKETED
    number = out.ticket_number
    (ack,) = outbox(app, "acknowledgement")
    seen_by_customer = [first, ack.message_id]  # the customer's own mail and what we sent them
    agent_ids: list[str] = []
    when = NOW
    for n in range(1, 31):  # 30 rounds: an agent answer and a customer reply each
        when += timedelta(minutes=10)
        notification = [r for r in outbox(app, "agent_notification")][-1]
        agent_id = f"agent-{n}@support.example"
        agent_ids.append(agent_id)
        raw = make_mail(
            sender=AGENT,
            subject=f"Re: [BITAM #{number}] Timbrado falla",
            body=f"Respuesta {n}: pruebe de nuevo por favor.\n",
            message_id=f"<{agent_id}>",
            in_reply_to=f"<{notification.message_id}>",
            references=f"<{notification.message_id}>",
        )
        assert accept(app, raw, "t", when).reason == "agent answer relayed"
        answer = outbox(app, "agent_reply")[-1]
        expected = [first, *seen_by_customer[-19:]]  # the thread's first id and the newest
        seen_by_customer.append(answer.message_id)
        when += timedelta(minutes=10)
        reply_id = _outlook_id(n)
        # The customer's client threads as clients do: the parent's References plus its id.
        parent = message_from_bytes(answer.raw, policy=policy.default)
        chain = [*_ids(parent["References"]), answer.message_id]
        raw = make_mail(
            subject=f"RE: [BITAM #{number}] Timbrado falla",
            body=f"Sigue fallando ({n}).\n",
            message_id=f"<{reply_id}>",
            in_reply_to=f"<{answer.message_id}>",
            references=" ".join(f"<{i}>" for i in chain),
        )
        assert accept(app, raw, "t", when).kind is Kind.FOLLOWED_UP
        seen_by_customer.append(reply_id)
        report = flush(app, when)
        assert report.failed == 0 and report.retried == 0, report.errors
    assert len(seen_by_customer) == 62  # 61 messages in the thread, and the acknowledgement
    assert strict_smtp_sink.too_long == 0
    rows = outbox(app)
    assert {r.state for r in rows} == {"sent"}
    delivered = strict_smtp_sink.messages
    assert len(delivered) == len(rows)
    last = [m.message for m in delivered if m.rcpt_tos == [CUSTOMER]][-1]
    assert last["Message-ID"] == f"<{answer.message_id}>"
    assert _ids(last["References"]) == expected
    for m in delivered:
        if m.rcpt_tos == [CUSTOMER]:
            assert not set(_ids(m.message["References"])) & set(agent_ids)
