"""Shared fixtures: a real database per test (SQLite, and PostgreSQL when
MAILDESK_TEST_DATABASE_URL is set), an App wired to it, a registry, and a mail builder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from maildesk.app import App
from maildesk.config import config_from_dict
from maildesk.registry import import_registry_file
from maildesk.store.db import Database
from maildesk.store.models import Outbox
from tests.servers.postgres import throwaway_schema

pytest_plugins = ["tests.servers.fixtures"]

PG_URL = os.environ.get("MAILDESK_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

REGISTRY = """
[[products]]
name = "bFiskur"
versions = ["5.0", "5.1", "5.2"]

[[products]]
name = "bVentor"
versions = ["1.0", "2.0"]

[[customers]]
id = "acme"
name = "ACME S.A. de C.V."
policy = "standard"
support_until = 2099-12-31
max_contacts = 3
products = [{ name = "bFiskur", version = "5.2" }]
contacts = [
  { email = "ana@acme.example", name = "Ana Pérez", phone = "+52 81 5555 0000", cloud_space = "acme-prod" },
  { email = "luis@acme.example", name = "Luis Gómez", cloud_space = "acme-test" },
]

[[customers]]
id = "globex"
name = "Globex"
policy = "7x24"
support_until = 2099-12-31
max_contacts = 1
products = [{ name = "bFiskur", version = "5.0" }]
contacts = [{ email = "gina@globex.example", name = "Gina", phone = "+52 55 1111 2222" }]

[[customers]]
id = "oldco"
name = "Old Co"
support_until = 2020-01-31
max_contacts = 1
contacts = [{ email = "otto@oldco.example", name = "Otto" }]
"""


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database: a temp SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        path = Path(request.getfixturevalue("tmp_path")) / "maildesk.db"
        yield f"sqlite:///{path}"
        return
    with throwaway_schema(PG_URL, "t") as url:
        yield url


AGENTS = [
    {"email": "agente1@support.example", "name": "Agente Uno", "skills": ["soporte", "error"]},
    {
        "email": "agente2@support.example",
        "name": "Agente Dos",
        "skills": ["soporte", "nuevo_requerimiento", "actividad"],
    },
]


@pytest.fixture
def make_app(db_url: str, tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Build an App on the test database; keyword sections override the config."""
    apps: list[App] = []

    def factory(**sections: Any) -> App:
        data: dict[str, Any] = {
            "support": {"address": "customerservice@support.example", "subject_prefix": "BITAM"},
            "database": {"url": db_url},
            "inbound": {"mode": "none"},
            "outbound": {"mode": "maildir", "maildir": str(tmp_path / "outbox")},
            "agents": AGENTS,
            "escalation": {"supervisors": ["jefe@support.example"]},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        app = App(config_from_dict(data, "test-config", tmp_path), Database(db_url))
        app.prepare()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.db.dispose()


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY, encoding="utf-8")
    return path


@pytest.fixture
def app(make_app: Callable[..., App], registry_file: Path) -> App:
    """An App with the standard test registry imported."""
    a = make_app()
    import_registry_file(a.db, registry_file)
    return a


# Wednesday 2026-11-25 10:00 in Mexico City: inside business hours.
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def make_mail(
    sender: str = "ana@acme.example",
    subject: str = "El reporte de ventas no carga",
    body: str = "Hola, el reporte de ventas marca error 500 desde ayer.\n",
    to: str = "customerservice@support.example",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """A realistic customer mail as bytes."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = format_datetime(NOW)
    m["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2] or "x.example")
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
    if references:
        m["References"] = references
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(body)
    for filename, ctype, data in attachments or []:
        main, _, sub = ctype.partition("/")
        m.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return m.as_bytes()


def outbox(app: App, template: str | None = None, to: str | None = None) -> list[Outbox]:
    """Rows queued in the outbox, optionally filtered."""
    with app.db.transaction() as s:
        q = select(Outbox).order_by(Outbox.id)
        if template:
            q = q.where(Outbox.template == template)
        if to:
            q = q.where(Outbox.to_addr == to)
        return list(s.scalars(q))
