"""Issue 8 item 5, commands fail closed (SPEC §10) and say what they did: an agent whose mail
applied commands (or stored a note) and relayed nothing gets a short confirmation of what
changed, unless `[support] confirm_commands = false`. Through `accept`, on SQLite and
PostgreSQL."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import timedelta
from email.policy import default
from pathlib import Path

from maildesk.app import App
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.registry import import_registry_file
from maildesk.store.models import Outbox
from tests.helpers import NOW, make_mail, outbox

AGENT = "agente1@support.example"
CUSTOMER = "ana@acme.example"
SOURCE = "imap:support/INBOX/1:1"


def _open(app: App) -> int:
    out = accept(app, make_mail(message_id="<c1@acme.example>"), "t", NOW)
    assert out.kind is Kind.TICKETED and out.ticket_number is not None
    return out.ticket_number


def _agent(app: App, number: int, body: str, minutes: int = 5) -> Outcome:
    (note,) = [r for r in outbox(app, "agent_notification") if r.ticket_number == number][:1]
    raw = make_mail(
        sender=AGENT,
        subject=f"Re: [BITAM #{number}] El reporte de ventas no carga",
        body=body,
        in_reply_to=f"<{note.message_id}>",
    )
    return accept(app, raw, SOURCE, NOW + timedelta(minutes=minutes))


def _text(row: Outbox) -> str:
    msg = email.message_from_bytes(row.raw, policy=default)
    return " ".join(msg.get_body(("plain",)).get_content().split())


def test_item5_commands_applied_and_nothing_relayed_are_confirmed(app: App) -> None:
    number = _open(app)
    out = _agent(app, number, "#prioridad alta\n#resuelto cambiamos el índice\n")
    assert out.reason == "agent commands applied"
    (confirmation,) = outbox(app, "commands_applied")
    assert confirmation.to_addr == AGENT and confirmation.ticket_number == number
    text = _text(confirmation)
    assert "#prioridad alta #resuelto cambiamos el índice" in text
    assert "Estado: resuelto" in text and "Prioridad: alta" in text
    assert "se envió al cliente: el aviso de ticket resuelto" in text
    assert [r.template for r in outbox(app) if r.to_addr == CUSTOMER] == [
        "acknowledgement",
        "resolved",
    ]


def test_item5_a_relayed_answer_needs_no_confirmation(app: App) -> None:
    number = _open(app)
    assert _agent(app, number, "#prioridad alta\nHola Ana, ya quedó.").reason == (
        "agent answer relayed"
    )
    assert outbox(app, "commands_applied") == []


def test_item5_a_note_is_confirmed_as_kept_from_the_customer(app: App) -> None:
    number = _open(app)
    assert _agent(app, number, "#nota\nLlamé y no contestó.").reason == "internal note"
    (confirmation,) = outbox(app, "commands_applied")
    assert "quedó guardado como nota interna" in _text(confirmation)
    assert "no se envió nada al cliente" in _text(confirmation)


def test_item5_confirmation_can_be_turned_off(
    make_app: Callable[..., App], registry_file: Path
) -> None:
    app = make_app(support={"confirm_commands": False})
    import_registry_file(app.db, registry_file)
    number = _open(app)
    _agent(app, number, "#prioridad alta\n")
    assert outbox(app, "commands_applied") == []
