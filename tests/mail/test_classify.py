"""classify(): bounces (R2), automatic mail (R3), everything else NORMAL."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.mail.classify import Classification, MailKind, classify
from maildesk.mail.inbound import Inbound
from maildesk.mail.parse import parse

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
LOOP = "soporte@example.test"


def never_ours(_message_id: str) -> bool:
    return False


def run(raw: bytes, own: frozenset[str] = frozenset()) -> Classification:
    return classify(parse(raw), LOOP, lambda mid: mid in own)


def corpus(name: str) -> Inbound:
    return parse((CORPUS / name).read_bytes())


def mail(*headers: str, body: str = "Hola, tengo un problema.") -> bytes:
    base = ["From: ana@acme.example", "To: soporte@example.test", "Subject: Consulta"]
    return ("\n".join(base + list(headers)) + "\n\n" + body + "\n").encode()


EXPECTED_KIND = {
    "dsn_bounce.eml": MailKind.BOUNCE,
    "microsoft_ndr.eml": MailKind.BOUNCE,
    "ooo_es_auto_submitted.eml": MailKind.AUTO,
    "ooo_en_auto_submitted.eml": MailKind.AUTO,
    "ooo_subject_only_suppress.eml": MailKind.AUTO,
    "mailing_list.eml": MailKind.AUTO,
}


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.name)
def test_corpus_gets_exactly_one_kind(path: Path) -> None:
    result = classify(parse(path.read_bytes()), LOOP, never_ours)
    assert isinstance(result.kind, MailKind)
    assert result.kind == EXPECTED_KIND.get(path.name, MailKind.NORMAL)
    assert (result.kind == MailKind.NORMAL) == (result.reason == "")


def test_r2_dsn_bounce_gives_original_id_recipient_and_permanent() -> None:
    result = classify(corpus("dsn_bounce.eml"), LOOP, never_ours)
    assert result.kind == MailKind.BOUNCE
    assert result.bounced_message_ids == ("t200.m1.0a1b2c3d@example.test",)
    assert result.bounce_recipients == ("nobody@acme.example",)
    assert result.bounce_permanent is True


def test_r2_microsoft_ndr_uses_rfc822_headers_and_in_reply_to() -> None:
    result = classify(corpus("microsoft_ndr.eml"), LOOP, never_ours)
    assert result.kind == MailKind.BOUNCE
    assert result.bounced_message_ids == ("t310.m4.55aa@example.test",)
    assert result.bounce_recipients == ("old.user@acme.example",)
    assert result.bounce_permanent is True


def test_r2_delayed_dsn_is_not_permanent() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.test\nTo: soporte@example.test\nSubject: Delayed\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        b'boundary="B"\n\n--B\nContent-Type: text/plain\n\nStill trying.\n--B\n'
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        b"Final-Recipient: rfc822; slow@acme.example\nAction: delayed\nStatus: 4.4.1\n\n--B--\n"
    )
    result = run(raw)
    assert result.kind == MailKind.BOUNCE
    assert result.bounce_permanent is False
    assert result.bounce_recipients == ("slow@acme.example",)


def test_r2_mailer_daemon_without_report() -> None:
    raw = mail(body="Your message could not be delivered: 550 5.7.1 rejected")
    raw = raw.replace(b"From: ana@acme.example", b"From: Mailer-Daemon@mx.acme.example")
    result = run(raw)
    assert result.kind == MailKind.BOUNCE and result.bounce_permanent is True


def test_r2_null_return_path_with_dsn_like_body() -> None:
    raw = mail(
        "Return-Path: <>",
        "X-Failed-Recipients: gone@acme.example",
        body="Mail delivery failed: returning message to sender",
    )
    result = run(raw)
    assert result.kind == MailKind.BOUNCE
    assert result.bounce_recipients == ("gone@acme.example",)


def test_r3_null_return_path_without_report_is_automatic() -> None:
    assert run(mail("Return-Path: <>")).kind == MailKind.AUTO


def test_r3_auto_submitted_other_than_no() -> None:
    result = run(mail("Auto-Submitted: auto-replied; owner-email=x@acme.example"))
    assert (result.kind, result.reason) == (MailKind.AUTO, "auto-submitted: auto-replied")
    assert run(mail("Auto-Submitted: No")).kind == MailKind.NORMAL


@pytest.mark.parametrize("value", ["bulk", "junk", "list", "Bulk"])
def test_r3_precedence(value: str) -> None:
    assert run(mail(f"Precedence: {value}")).kind == MailKind.AUTO


def test_r3_precedence_first_class_is_normal() -> None:
    assert run(mail("Precedence: first-class")).kind == MailKind.NORMAL


@pytest.mark.parametrize(
    "header",
    [
        "List-Id: <x.lists.acme.example>",
        "List-Unsubscribe: <mailto:u@acme.example>",
        "X-Autoreply: yes",
        "X-Autorespond: yes",
        "X-Autoresponder: on",
        "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent",
    ],
)
def test_r3_automatic_headers(header: str) -> None:
    result = run(mail(header))
    assert result.kind == MailKind.AUTO
    assert result.reason == header.split(":", 1)[0].lower()


def test_r3_x_loop_equal_to_our_address_case_insensitive() -> None:
    assert run(mail("X-Loop: <SOPORTE@Example.Test>")).reason == "x-loop"
    assert run(mail("X-Loop: soporte@example.test")).kind == MailKind.AUTO
    assert run(mail("X-Loop: other@acme.example")).kind == MailKind.NORMAL


def test_r3_own_message_id() -> None:
    raw = mail("Message-ID: <t5.m1.deadbeef@example.test>")
    result = run(raw, own=frozenset({"t5.m1.deadbeef@example.test"}))
    assert (result.kind, result.reason) == (MailKind.AUTO, "own message-id")
    assert run(raw).kind == MailKind.NORMAL


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Consulta",
        "Automatic reply: [BITAM #5] x",
        "Respuesta automática: Consulta",
        "Fuera de la oficina",
        "Abwesenheitsnotiz: Anfrage",
        "Réponse automatique : demande",
    ],
)
def test_r3_out_of_office_subjects(subject: str) -> None:
    raw = mail().replace(b"Subject: Consulta", f"Subject: {subject}".encode())
    assert run(raw).kind == MailKind.AUTO


def test_r3_out_of_office_words_inside_subject_are_normal() -> None:
    raw = mail().replace(b"Subject: Consulta", b"Subject: Re: how to set Automatic reply rules")
    assert run(raw).kind == MailKind.NORMAL


def test_r3_x_auto_response_suppress_alone_is_not_automatic() -> None:
    result = classify(corpus("suppress_only_normal.eml"), LOOP, never_ours)
    assert result.kind == MailKind.NORMAL
    assert result.suppress_autoreply is True


def test_r3_automatic_reply_subject_with_suppress_is_auto() -> None:
    result = classify(corpus("ooo_subject_only_suppress.eml"), LOOP, never_ours)
    assert (result.kind, result.reason) == (MailKind.AUTO, "out-of-office subject")


def test_r3_read_receipt_report_is_automatic() -> None:
    raw = mail(
        "Content-Type: multipart/report; report-type=disposition-notification; boundary=b",
        body="--b\nContent-Type: text/plain\n\nRead.\n--b--",
    )
    assert run(raw).kind == MailKind.AUTO


def test_normal_mail_is_normal() -> None:
    result = classify(corpus("gmail_reply_es.eml"), LOOP, never_ours)
    assert result == Classification(MailKind.NORMAL)


def test_i10_mail_to_a_return_path_is_never_a_persons() -> None:
    """RFC 3834 §3.3: only robots answer a return path. Written like a person's mail, it is
    a bounce (R2, recorded, never answered); with robot headers, automatic (R3); the shape
    counts, not the MAC (a forged return path is no customer's address either)."""
    to_rp = "Delivered-To: soporte+bounce-17-0123456789ab@example.test"
    person = run(mail(to_rp, body="Mi versión es 5.2.1 y sigue fallando."))
    assert person.kind is MailKind.BOUNCE and person.reason == "sent to our return path"
    assert person.to_return_path and not person.bounce_permanent  # a version, no status
    robot = run(mail(to_rp, "Auto-Submitted: auto-replied"))
    assert robot.kind is MailKind.AUTO and robot.to_return_path
    for elsewhere in ("Cc: soporte+17@example.test", "Cc: otro+bounce-1-0@example.test"):
        assert run(mail(elsewhere)).kind is MailKind.NORMAL
