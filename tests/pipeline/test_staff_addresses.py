"""Staff addresses (SPEC §10; issue 10 finding 5, issue 8 item 4): maildesk never mails its own
support address in any spelling, staff never get customer notices, and the configuration
refuses the support address in a staff role. Through pipeline.accept on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from maildesk.app import App
from maildesk.config import config_from_dict
from maildesk.errors import ConfigError
from maildesk.mail.addresses import mailbox_key, same_mailbox
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.registry import import_registry_file
from maildesk.store.models import Event
from tests.helpers import NOW, REGISTRY, make_mail, outbox

SOURCE = "imap:support/INBOX/1:1"


@pytest.mark.parametrize(
    "sender",
    [
        "customerservice@support.example",
        "CustomerService@Support.Example",
        "customerservice+loop@support.example",
        "customerservice@support.example.",
    ],
)
def test_i10_no_notice_to_the_support_address_in_any_spelling(app: App, sender: str) -> None:
    out = accept(app, make_mail(sender=sender), SOURCE, NOW)
    assert out.kind is Kind.IGNORED
    assert outbox(app) == []


@pytest.mark.parametrize(
    "sender", ["jefe@support.example", "Comite@Support.Example", "jefe+x@support.example"]
)
def test_i8_staff_never_get_rejected_unregistered(make_app: Any, registry_file: Path, sender: str):
    app = make_app(committee={"address": "comite@support.example"})
    import_registry_file(app.db, registry_file)
    out = accept(app, make_mail(sender=sender), SOURCE, NOW)
    assert out.kind is Kind.IGNORED and "staff" in out.reason
    assert outbox(app, "rejected_unregistered") == []
    assert outbox(app) == []


def test_i10_support_address_registered_as_contact_gets_no_acknowledgement(
    make_app: Any, tmp_path: Path
) -> None:
    """The backstop in queue_mail: whatever rule queues it, nothing goes to the support box."""
    registry = tmp_path / "registry.toml"
    alias = "customerservice+acme@support.example"
    registry.write_text(
        REGISTRY.replace("luis@acme.example", alias, 1).replace("Luis Gómez", "Loop"),
        encoding="utf-8",
    )
    app = make_app()
    import_registry_file(app.db, registry)
    out = accept(app, make_mail(sender=alias), SOURCE, NOW)
    assert out.kind is Kind.TICKETED  # the mail is accounted for...
    assert outbox(app, to=alias) == []  # ...but never answered into our own mailbox
    with app.db.transaction() as s:
        events = s.scalars(select(Event).where(Event.kind == "notice_suppressed")).all()
        assert [e.detail["to"] for e in events] == [alias]


@pytest.mark.parametrize(
    ("section", "value", "key"),
    [
        ("agents", [{"email": "CustomerService+a@support.example", "name": "x"}], "agents[0]"),
        ("escalation", {"supervisors": ["customerservice@support.example."]}, "supervisors[0]"),
        ("committee", {"address": "customerservice@SUPPORT.example"}, "committee.address"),
    ],
)
def test_i10_config_refuses_the_support_address_in_a_staff_role(
    section: str, value: Any, key: str
) -> None:
    data = {"support": {"address": "customerservice@support.example"}, section: value}
    with pytest.raises(ConfigError, match=re.escape(key)):
        config_from_dict(data)


@given(
    st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[a-z0-9]{0,6}", fullmatch=True)
)
def test_i10_mailbox_key_ignores_tag_case_and_trailing_dot(local: str, tag: str) -> None:
    plain = f"{local}@example.com"
    assert same_mailbox(plain, f"{local.upper()}+{tag}@Example.COM.")
    assert mailbox_key(f"<{plain}>") == plain
    assert not same_mailbox(plain, f"{local}x@example.com")
