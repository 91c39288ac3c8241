"""Inbound routing R1–R9 and the policy rules it carries (P1, P3, P10, P11, P15), end to end
through pipeline.accept on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import email
from datetime import timedelta

from sqlalchemy import select

from maildesk.app import App
from maildesk.channels.imap import Folder, folder_of
from maildesk.domain.lifecycle import State
from maildesk.mail.verp import return_path
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind, Refusal
from maildesk.store.models import Contact, Inbox, Message, Ticket
from maildesk.views import ticket_detail
from tests.helpers import NOW, count, make_mail, outbox


def _ticket(app: App, number: int) -> Ticket:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        return t


def _resolve(app: App, number: int, when=NOW) -> None:
    from maildesk.pipeline.tickets import transition

    with app.db.transaction() as s:
        transition(s, s.get(Ticket, number), "resolved", when, "agente1@support.example")


def _close(app: App, number: int, when=NOW) -> None:
    from maildesk.pipeline.tickets import transition

    with app.db.transaction() as s:
        transition(s, s.get(Ticket, number), "closed", when, "system")


def _ack_id(app: App, number: int) -> str:
    (row,) = [r for r in outbox(app, "acknowledgement") if r.ticket_number == number]
    return row.message_id


# --- R9 -------------------------------------------------------------------------------------


def test_r9_new_topic_opens_ticket_with_acknowledgement_and_agent_notice(app: App) -> None:
    out = accept(app, make_mail(), "test", NOW)
    assert out.kind is Kind.TICKETED and out.ticket_number == 1
    t = ticket_detail(app, 1)
    assert t is not None
    assert (t["state"], t["type"], t["priority"], t["unclassified"]) == (
        "open",
        "soporte",
        "media",
        True,
    )
    assert t["customer"] == "acme" and t["requester"] == "ana@acme.example"
    assert t["created_at"] == "2026-11-25T10:00:00-06:00"  # receipt time, not the Date header
    assert t["messages"][0]["body"].startswith("Hola, el reporte de ventas")
    (ack,) = outbox(app, "acknowledgement")
    assert ack.to_addr == "ana@acme.example"
    parsed = email.message_from_bytes(ack.raw)
    assert parsed["Subject"] == "[BITAM #1] El reporte de ventas no carga"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-Loop"] == "customerservice@support.example"
    assert parsed["In-Reply-To"].strip("<>") == out.message_id
    assert parsed["Message-ID"].strip("<>").endswith("@support.example")
    assert app.our_ticket_ref(parsed["Message-ID"].strip("<>")) == 1
    assert [r.to_addr for r in outbox(app, "agent_notification")] == ["agente1@support.example"]


def test_r9_ticket_numbers_are_sequential(app: App) -> None:
    numbers = [
        accept(app, make_mail(subject=f"tema {i}"), "t", NOW).ticket_number for i in range(3)
    ]
    assert numbers == [1, 2, 3]


def test_p4_each_new_mail_without_reference_is_a_new_ticket(app: App) -> None:
    a = accept(app, make_mail(subject="Mismo asunto"), "t", NOW)
    b = accept(app, make_mail(subject="Mismo asunto"), "t", NOW)
    assert a.ticket_number != b.ticket_number


def test_p5_acknowledgement_asks_for_phone_when_missing(app: App) -> None:
    accept(app, make_mail(sender="luis@acme.example"), "t", NOW)
    (ack,) = outbox(app, "acknowledgement")
    text = email.message_from_bytes(ack.raw).get_payload(decode=True).decode()
    assert "teléfono" in text.lower()


# --- R1 -------------------------------------------------------------------------------------


def test_r1_same_message_id_twice_is_processed_once(app: App) -> None:
    raw = make_mail(message_id="<dup-1@acme.example>")
    first = accept(app, raw, "imap:1", NOW)
    again = accept(app, raw, "imap:1", NOW + timedelta(minutes=5))
    assert first.kind is Kind.TICKETED
    assert again.kind is Kind.IGNORED and again.duplicate
    assert count(app, Ticket) == 1 and len(outbox(app, "acknowledgement")) == 1
    assert count(app, Inbox) == 1


def test_r1_to_and_cc_copies_are_one_message(app: App) -> None:
    raw = make_mail(
        message_id="<cc-1@acme.example>", headers={"Cc": "customerservice+copy@support.example"}
    )
    assert accept(app, raw, "smtp:to", NOW).kind is Kind.TICKETED
    assert accept(app, raw, "smtp:cc", NOW).duplicate


def test_r1_without_message_id_uses_content_hash(app: App) -> None:
    raw = make_mail().replace(b"Message-ID:", b"X-Old-Id:")
    assert accept(app, raw, "t", NOW).kind is Kind.TICKETED
    assert accept(app, raw, "t", NOW).duplicate
    other = raw.replace(b"error 500", b"error 501")
    assert accept(app, other, "t", NOW).kind is Kind.TICKETED


# --- R2 -------------------------------------------------------------------------------------


def _dsn(
    original_id: str,
    recipient: str,
    status: str = "5.1.1",
    to: str = "customerservice@support.example",
) -> bytes:
    return f"""From: MAILER-DAEMON@mx.support.example
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-{status}-{original_id[:8]}-{to.partition("@")[0]}@mx.support.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

The mail could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.support.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: {status}

--B
Content-Type: text/rfc822-headers

Message-ID: <{original_id}>
To: {recipient}
Subject: whatever

--B--
""".encode()


def test_r2_bounce_attaches_to_ticket_and_suppresses_contact(app: App) -> None:
    """Back at the acknowledgement's return path (mail/verp.py), a permanent DSN suppresses
    its recipient; the same DSN at the plain support address is only recorded."""
    accept(app, make_mail(), "t", NOW)
    (ack,) = outbox(app, "acknowledgement")
    out = accept(app, _dsn(ack.message_id, "ana@acme.example"), "t", NOW)
    assert out.kind is Kind.FOLLOWED_UP and out.ticket_number == 1
    with app.db.transaction() as s:
        assert s.scalar(select(Contact.suppressed_until)) is None
    to = return_path(app.secret, app.cfg.support.address, ack.id)
    out = accept(app, _dsn(ack.message_id, "ana@acme.example", to=to), "t", NOW)
    assert out.kind is Kind.FOLLOWED_UP and out.ticket_number == 1
    kinds = [e["kind"] for e in ticket_detail(app, 1)["events"]]
    assert kinds.count("bounce") == 2 and "contact_suppressed" in kinds
    with app.db.transaction() as s:
        contact = s.scalar(select(Contact).where(Contact.email == "ana@acme.example"))
        assert contact.suppressed_until is not None
        assert contact.suppressed_until > NOW + timedelta(days=29)
    # automatic mail to the suppressed contact is held back; the ticket is still opened
    before = len(outbox(app, "acknowledgement"))
    assert accept(app, make_mail(subject="otro tema"), "t", NOW).kind is Kind.TICKETED
    assert len(outbox(app, "acknowledgement")) == before


def test_r2_bounce_never_answered_and_unknown_bounce_ignored(app: App) -> None:
    out = accept(app, _dsn("nothing@elsewhere.example", "x@y.example"), "t", NOW)
    assert out.kind is Kind.IGNORED and "bounce" in out.reason
    assert outbox(app) == []


# --- R3 -------------------------------------------------------------------------------------


def test_r3_out_of_office_from_customer_recorded_on_ticket_without_reply(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    sent_before = len(outbox(app))
    ooo = make_mail(
        subject="Respuesta automática: [BITAM #1] El reporte",
        body="Estoy fuera de la oficina hasta el lunes.\n",
        in_reply_to=f"<{_ack_id(app, 1)}>",
        headers={"Auto-Submitted": "auto-replied"},
    )
    out = accept(app, ooo, "t", NOW)
    assert out.kind is Kind.FOLLOWED_UP and out.ticket_number == 1
    assert len(outbox(app)) == sent_before
    assert _ticket(app, 1).state is State.OPEN


def test_r3_automatic_mail_never_opens_a_ticket(app: App) -> None:
    for headers in (
        {"Auto-Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"List-Id": "<news.acme.example>"},
        {"X-Autoreply": "yes"},
        {"X-Loop": "customerservice@support.example"},
    ):
        out = accept(app, make_mail(headers=headers), "t", NOW)
        assert out.kind is Kind.IGNORED, headers
    assert count(app, Ticket) == 0 and outbox(app) == []


def test_r3_our_own_message_id_is_never_answered(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    (ack,) = outbox(app, "acknowledgement")
    looped = ack.raw.replace(b"To: ana@acme.example", b"To: customerservice@support.example")
    looped = looped.replace(b"From: Soporte", b"X-Was: Soporte").replace(b"X-Loop:", b"X-Old-Loop:")
    looped = b"From: ana@acme.example\r\n" + looped
    before = len(outbox(app))
    out = accept(app, looped, "t", NOW)
    assert out.kind in (Kind.IGNORED, Kind.FOLLOWED_UP)
    assert len(outbox(app)) == before and count(app, Ticket) == 1


def test_r3_x_auto_response_suppress_alone_still_opens_ticket_silently(app: App) -> None:
    out = accept(app, make_mail(headers={"X-Auto-Response-Suppress": "All"}), "t", NOW)
    assert out.kind is Kind.TICKETED
    assert outbox(app, "acknowledgement") == []
    assert outbox(app, "agent_notification")  # agents still hear of it


# --- R4 -------------------------------------------------------------------------------------


def test_r4_agent_mail_is_stored_on_its_ticket_not_ticketed(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    reply = make_mail(
        sender="agente1@support.example",
        subject="Re: [BITAM #1] reporte",
        body="#note\nRevisando logs.\n",
    )
    out = accept(app, reply, "t", NOW)
    assert out.kind is Kind.FOLLOWED_UP and out.ticket_number == 1
    assert count(app, Ticket) == 1
    assert outbox(app, "rejected_unregistered") == []


# --- R5 -------------------------------------------------------------------------------------


def test_r5_p3_unregistered_sender_rejected_with_notice_no_ticket(app: App) -> None:
    out = accept(app, make_mail(sender="stranger@nowhere.example"), "t", NOW)
    assert out.kind is Kind.REJECTED and folder_of(out) is Folder.REJECTED
    assert count(app, Ticket) == 0
    (notice,) = outbox(app, "rejected_unregistered")
    assert notice.to_addr == "stranger@nowhere.example"
    with app.db.transaction() as s:
        (row,) = s.scalars(select(Inbox))
        assert row.outcome == "rejected" and row.raw_sha256  # the mail is kept


def test_r5_notice_rate_limit_per_sender_per_hour(app: App) -> None:
    for i in range(5):
        accept(
            app,
            make_mail(sender="spam@nowhere.example", subject=f"s{i}"),
            "t",
            NOW + timedelta(minutes=i),
        )
    assert len(outbox(app, "rejected_unregistered")) == 3  # limits.notices_per_sender_per_hour
    accept(
        app,
        make_mail(sender="spam@nowhere.example", subject="later"),
        "t",
        NOW + timedelta(hours=2),
    )
    assert len(outbox(app, "rejected_unregistered")) == 4


def test_r5_daily_cap_on_automatic_mail_to_one_address(make_app, registry_file) -> None:
    from maildesk.registry import import_registry_file

    app = make_app(
        limits={"auto_mails_per_recipient_per_day": 5, "notices_per_sender_per_hour": 100}
    )
    import_registry_file(app.db, registry_file)
    for i in range(12):
        accept(app, make_mail(subject=f"tema {i}"), "t", NOW + timedelta(minutes=i))
    assert len(outbox(app, to="ana@acme.example")) == 5
    assert count(app, Ticket) == 12  # tickets are still opened; only mail is capped


def test_r5_deactivated_contact_is_unregistered(app: App, tmp_path) -> None:
    from maildesk.registry import import_registry_file
    from tests.helpers import REGISTRY

    smaller = REGISTRY.replace(
        '  { email = "luis@acme.example", name = "Luis Gómez", cloud_space = "acme-test" },\n', ""
    )
    path = tmp_path / "reg2.toml"
    path.write_text(smaller, encoding="utf-8")
    import_registry_file(app.db, path)
    out = accept(app, make_mail(sender="luis@acme.example"), "t", NOW)
    assert out.kind is Kind.REJECTED


# --- R6 / P1 --------------------------------------------------------------------------------


def test_r6_p1_expired_contract_gets_contract_expired_no_ticket(app: App) -> None:
    out = accept(app, make_mail(sender="otto@oldco.example"), "t", NOW)
    assert out.kind is Kind.REJECTED and out.refusal is Refusal.CONTRACT_EXPIRED
    assert count(app, Ticket) == 0
    assert [r.to_addr for r in outbox(app, "contract_expired")] == ["otto@oldco.example"]


# --- R7 -------------------------------------------------------------------------------------


def test_r7_followup_by_references_to_our_acknowledgement(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    reply = make_mail(
        subject="Re: sin etiqueta", body="Adjunto captura.\n", in_reply_to=f"<{_ack_id(app, 1)}>"
    )
    out = accept(app, reply, "t", NOW)
    assert (out.kind, out.ticket_number) == (Kind.FOLLOWED_UP, 1)
    assert count(app, Ticket) == 1


def test_r7_followup_by_references_to_the_customers_own_first_mail(app: App) -> None:
    accept(app, make_mail(message_id="<first@acme.example>"), "t", NOW)
    out = accept(app, make_mail(subject="más datos", references="<first@acme.example>"), "t", NOW)
    assert out.ticket_number == 1 and out.kind is Kind.FOLLOWED_UP


def test_r7_followup_by_subject_tag_with_reply_prefixes(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    for subject in ("RE: [BITAM #1] El reporte", "RV: Fwd:  [bitam  #1] x", "AW: TR: [BITAM #1]"):
        out = accept(app, make_mail(subject=subject, body="Sigue igual.\n"), "t", NOW)
        assert (out.kind, out.ticket_number) == (Kind.FOLLOWED_UP, 1), subject


def test_r7_followup_by_plus_address(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    out = accept(
        app, make_mail(subject="sin etiqueta", to="customerservice+1@support.example"), "t", NOW
    )
    assert (out.kind, out.ticket_number) == (Kind.FOLLOWED_UP, 1)


def test_r7_colleague_of_same_customer_may_follow_up(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    out = accept(app, make_mail(sender="luis@acme.example", subject="Re: [BITAM #1] x"), "t", NOW)
    assert (out.kind, out.ticket_number) == (Kind.FOLLOWED_UP, 1)
    # agents are told about the follow-up
    assert len(outbox(app, "agent_notification")) == 2


def test_r7_forged_message_id_reference_is_not_trusted(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    forged = "md.1.aaaaaaaaaaaa.0123456789abcdef@support.example"
    out = accept(
        app,
        make_mail(sender="gina@globex.example", subject="hola", in_reply_to=f"<{forged}>"),
        "t",
        NOW,
    )
    assert out.kind is Kind.TICKETED and out.ticket_number == 2


# --- R8 -------------------------------------------------------------------------------------


def test_r8_reference_to_another_customers_ticket_is_a_new_topic(app: App) -> None:
    accept(app, make_mail(subject="Secreto de ACME"), "t", NOW)
    out = accept(
        app,
        make_mail(
            sender="gina@globex.example",
            subject="Re: [BITAM #1] hola",
            in_reply_to=f"<{_ack_id(app, 1)}>",
        ),
        "t",
        NOW,
    )
    assert out.kind is Kind.TICKETED and out.ticket_number == 2
    t2 = ticket_detail(app, 2)
    assert t2["customer"] == "globex"
    ack = next(r for r in outbox(app, "acknowledgement") if r.ticket_number == 2)
    assert b"Secreto" not in ack.raw
    froms = [m["from"] for m in ticket_detail(app, 1)["messages"]]
    assert "gina@globex.example" not in froms  # nothing appended to #1


# --- P10 / P11 ------------------------------------------------------------------------------


def test_p10_reopen_within_window(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    _resolve(app, 1)
    out = accept(
        app,
        make_mail(subject="Re: [BITAM #1]", body="Volvió a fallar hoy.\n"),
        "t",
        NOW + timedelta(days=2),
    )
    assert out.kind is Kind.FOLLOWED_UP and out.reason == "reopened"
    t = _ticket(app, 1)
    assert t.state is State.OPEN and t.resolved_at is None
    assert "reopened" in [e["kind"] for e in ticket_detail(app, 1)["events"]]


def test_r7_thanks_on_resolved_ticket_is_confirmation_not_reopen(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    _resolve(app, 1)
    out = accept(
        app,
        make_mail(subject="Re: [BITAM #1]", body="Muchas gracias, ya quedó.\n"),
        "t",
        NOW + timedelta(days=1),
    )
    assert out.kind is Kind.FOLLOWED_UP
    assert _ticket(app, 1).state is State.RESOLVED
    assert "customer_confirmed" in [e["kind"] for e in ticket_detail(app, 1)["events"]]


def test_p11_reply_to_closed_ticket_opens_new_linked_ticket(app: App) -> None:
    accept(app, make_mail(), "t", NOW)
    _resolve(app, 1)
    _close(app, 1, NOW + timedelta(days=30))
    out = accept(
        app,
        make_mail(subject="Re: [BITAM #1] El reporte", body="Otra vez falla.\n"),
        "t",
        NOW + timedelta(days=31),
    )
    assert out.kind is Kind.TICKETED and out.ticket_number == 2
    assert ticket_detail(app, 2)["follows_up"] == 1
    assert _ticket(app, 1).state is State.CLOSED
    (notice,) = outbox(app, "followup_new_ticket")
    assert notice.ticket_number == 2


def test_p6_closed_ticket_cannot_change(app: App) -> None:
    import pytest

    from maildesk.errors import IllegalTransition

    accept(app, make_mail(), "t", NOW)
    _close(app, 1)
    with pytest.raises(IllegalTransition):
        _resolve(app, 1)
    assert _ticket(app, 1).state is State.CLOSED


# --- P15, P8, P9 ----------------------------------------------------------------------------


def test_p15_unsupported_version_flagged_and_noticed(app: App) -> None:
    out = accept(app, make_mail(sender="gina@globex.example"), "t", NOW)  # bFiskur 5.0
    assert out.kind is Kind.TICKETED
    assert ticket_detail(app, out.ticket_number)["unsupported_version"] is True
    (notice,) = outbox(app, "unsupported_version")
    assert b"5.1" in notice.raw and b"5.2" in notice.raw


def test_p15_supported_version_not_flagged(app: App) -> None:
    out = accept(app, make_mail(), "t", NOW)  # bFiskur 5.2
    assert ticket_detail(app, out.ticket_number)["unsupported_version"] is False
    assert outbox(app, "unsupported_version") == []


def test_p8_p9_sla_due_in_business_hours_and_7x24_wall_clock(app: App) -> None:
    a = accept(app, make_mail(), "t", NOW)  # standard, media = 40 business hours
    b = accept(app, make_mail(sender="gina@globex.example"), "t", NOW)  # 7x24 policy
    assert ticket_detail(app, a.ticket_number)["sla_due_at"] == "2026-11-30T18:30:00-06:00"
    assert ticket_detail(app, b.ticket_number)["sla_due_at"] == "2026-11-27T02:00:00-06:00"


# --- size, attachments, bad input -----------------------------------------------------------


def test_size_limit_too_large_notice_no_ticket(make_app, registry_file) -> None:
    from maildesk.registry import import_registry_file

    app = make_app(limits={"max_message_bytes": 20_000})
    import_registry_file(app.db, registry_file)
    big = make_mail(attachments=[("big.bin", "application/octet-stream", b"x" * 40_000)])
    out = accept(app, big, "t", NOW)
    assert out.kind is Kind.REJECTED and count(app, Ticket) == 0
    assert [r.to_addr for r in outbox(app, "too_large")] == ["ana@acme.example"]
    with app.db.transaction() as s:
        (row,) = s.scalars(select(Inbox))
        from maildesk.store.models import Blob

        assert s.get(Blob, row.raw_sha256).size == len(big)  # kept whole


def test_attachments_stored_content_addressed_with_safe_names(app: App) -> None:
    data = b"%PDF-1.4 fake"
    raw = make_mail(
        attachments=[
            ("../../etc/passwd", "application/pdf", data),
            ("copy.pdf", "application/pdf", data),
        ]
    )
    out = accept(app, raw, "t", NOW)
    (msg,) = ticket_detail(app, out.ticket_number)["messages"][:1]
    names = [a["filename"] for a in msg["attachments"]]
    assert names == ["passwd", "copy.pdf"]
    assert {a["sha256"] for a in msg["attachments"]} == {
        __import__("hashlib").sha256(data).hexdigest()
    }


def test_backslashes_in_body_kept_exactly(app: App) -> None:
    body = "Ruta: C:\\temp\\new y \\n literal\n"
    out = accept(app, make_mail(body=body), "t", NOW)
    assert ticket_detail(app, out.ticket_number)["messages"][0]["body"].startswith(
        "Ruta: C:\\temp\\new y \\n literal"
    )


def test_unparseable_goes_to_quarantine(app: App) -> None:
    out = accept(app, b"\x00\x01 not a mail at all", "t", NOW)
    assert out.kind is Kind.QUARANTINED and folder_of(out) is Folder.QUARANTINE
    from maildesk.views import quarantine_list

    assert len(quarantine_list(app)) == 1


def test_header_injection_from_customer_subject_impossible(app: App) -> None:
    raw = make_mail(subject="hola").replace(
        b"Subject: hola", b"Subject: =?utf-8?q?hola=0D=0ABcc=3A_evil=40x?="
    )
    accept(app, raw, "t", NOW)
    for row in outbox(app):
        parsed = email.message_from_bytes(row.raw)
        assert parsed["Bcc"] is None
        assert "\n" not in parsed["Subject"]


def test_customer_hash_lines_are_just_text(app: App) -> None:
    accept(app, make_mail(body="#close\n#priority urgente\nAyuda por favor\n"), "t", NOW)
    t = _ticket(app, 1)
    assert (t.state, t.priority) == ("open", "media")
    with app.db.transaction() as s:
        (m,) = s.scalars(select(Message).where(Message.direction == "in"))
        assert m.body.startswith("#close")


def test_p16_policy_numbers_are_configuration(make_app, registry_file) -> None:
    """P16: the company may change the policy; every number above is configuration."""
    from maildesk.registry import import_registry_file

    app = make_app(
        sla={"hours": {"soporte": [1, 2, 3, 4]}},
        calendar={"open": "09:00", "close": "18:00", "holidays_country": ""},
        support={"default_priority": "alta"},
    )
    import_registry_file(app.db, registry_file)
    out = accept(app, make_mail(), "t", NOW)  # Wednesday 10:00 local
    t = ticket_detail(app, out.ticket_number)
    assert t["priority"] == "alta"
    assert t["sla_due_at"] == "2026-11-25T12:00:00-06:00"  # 2 business hours
