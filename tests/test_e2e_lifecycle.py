"""The whole ticket life of the policy by email alone (issue 3's "done when"): a customer
writes, an agent classifies and answers from a mail client, the customer replies, the agent
resolves, and 15 business days later the ticket closes and the customer receives the
transcript — driven only through `maildesk ingest`, `outbox flush` and `timers run --now`,
on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import mailbox
import sys
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.cli import main
from maildesk.domain.calendar import BusinessCalendar
from tests.cli.helpers import write_config
from tests.helpers import REGISTRY, make_mail

AGENT = "agente1@support.example"


class Mailboxes:
    """What has left maildesk so far, read from the outbox maildir like a mail client."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[str] = set()

    def new(self, address: str) -> list[EmailMessage]:
        """Mail delivered to `address` since the last look (one flush's worth)."""
        box = mailbox.Maildir(self.path, create=False)
        out = []
        for key in box.iterkeys():
            msg = message_from_bytes(box.get_bytes(key), policy=policy.default)
            if key not in self.seen and address in str(msg["To"]):
                self.seen.add(key)
                out.append(msg)
        return out


@pytest.fixture
def md(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):
    cfg = write_config(tmp_path, db_url)
    (tmp_path / "registry.toml").write_text(REGISTRY, encoding="utf-8")

    def run(*argv: str, stdin: bytes | None = None) -> str:
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(["--config", str(cfg), *argv])
        monkeypatch.undo()
        assert code == 0, (argv, out.getvalue())
        return out.getvalue()

    run("db", "upgrade")
    run("registry", "import", str(tmp_path / "registry.toml"))
    return run


def _reply(to_msg: EmailMessage, sender: str, body: str) -> bytes:
    """A reply as a mail client writes it: Re: subject, threading headers, quoted text."""
    quoted = "\n".join(
        "> " + line for line in to_msg.get_body(("plain",)).get_content().splitlines()
    )
    refs = f"{to_msg.get('References', '')} {to_msg['Message-ID']}".strip()
    return make_mail(
        sender=sender,
        subject=f"Re: {to_msg['Subject']}",
        body=f"{body}\n\nOn Wed, someone wrote:\n{quoted}\n",
        in_reply_to=to_msg["Message-ID"],
        references=refs,
    )


def test_e2e_whole_ticket_life_by_email(md, tmp_path: Path) -> None:
    mail = Mailboxes(tmp_path / "outbox")

    # 1. The customer writes; ticket #1, acknowledgement, agent notified.
    first = make_mail(
        subject="No puedo exportar a Excel",
        body="Al exportar el tablero a Excel aparece un error.\n",
    )
    assert md("ingest", stdin=first).startswith("ticketed #1")
    md("outbox", "flush")
    (ack,) = mail.new("ana@acme.example")
    assert ack["Subject"] == "[BITAM #1] No puedo exportar a Excel"
    (notification,) = mail.new(AGENT)

    # 2. The agent classifies and answers by replying to the notification.
    answer = _reply(
        notification,
        AGENT,
        "#tipo error\n#prioridad alta\n\nHola Ana, ¿qué versión de Excel usa?\n\n-- \nAgente Uno",
    )
    assert md("ingest", stdin=answer).startswith("followed_up #1")
    md("outbox", "flush")
    (relayed,) = mail.new("ana@acme.example")
    text = relayed.get_body(("plain",)).get_content()
    assert "¿qué versión de Excel usa?" in text
    assert "#tipo" not in text and "Agente Uno\n-- " not in text and "> " not in text
    assert relayed["From"].addresses[0].addr_spec == "customerservice@support.example"
    assert relayed["Auto-Submitted"] is None
    assert relayed["In-Reply-To"] == first_id(first)
    shown = json.loads(md("tickets", "show", "1", "--json"))
    assert (shown["type"], shown["priority"]) == ("error", "alta")
    assert mail.new(AGENT) == []  # no echo of their own answer

    # 3. The customer answers the agent; the agent hears of it.
    reply = _reply(relayed, "ana@acme.example", "Uso Excel 2019.")
    assert md("ingest", stdin=reply).startswith("followed_up #1")
    md("outbox", "flush")
    (followup,) = mail.new(AGENT)
    assert "Uso Excel 2019." in followup.get_body(("plain",)).get_content()

    # 4. The agent resolves.
    resolve = _reply(followup, AGENT, "#resolve\nCorregido en la versión 5.2.1.")
    assert md("ingest", stdin=resolve).startswith("followed_up #1")
    md("outbox", "flush")
    templates = sorted(m["Subject"] for m in mail.new("ana@acme.example"))
    assert len(templates) == 2  # the answer and the `resolved` notice
    shown = json.loads(md("tickets", "show", "1", "--json"))
    assert shown["state"] == "resolved"
    resolved_at = datetime.fromisoformat(shown["resolved_at"])

    # 5. 15 business days later (not one minute before) the ticket closes (T1).
    due = BusinessCalendar().add_business_days(resolved_at, 15)
    before = md("timers", "run", "--now", (due - timedelta(minutes=1)).isoformat())
    assert "T1 close" not in before and "0 closed (T1)" in before
    after = md("timers", "run", "--now", due.isoformat())
    assert "T1 close #1" in after
    assert json.loads(md("tickets", "show", "1", "--json"))["state"] == "closed"
    md("outbox", "flush")
    (closed,) = mail.new("ana@acme.example")
    (transcript,) = list(closed.iter_attachments())
    content = transcript.get_content()
    content = content if isinstance(content, str) else content.decode()
    for line in (
        "Al exportar el tablero",
        "¿qué versión de Excel usa?",
        "Uso Excel 2019.",
        "Corregido en la versión 5.2.1.",
    ):
        assert line in content
    again = md("timers", "run", "--now", due.isoformat())
    assert "T1 close" not in again and "outbox sent 0" in again  # idempotent


def first_id(raw: bytes) -> str:
    return message_from_bytes(raw, policy=policy.default)["Message-ID"]
