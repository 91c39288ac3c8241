"""What tests share besides fixtures (those are in conftest.py): the sample registry and
agents, the instant the tests live at, a customer's mail as bytes, and ways to look at what
the pipeline wrote. Import from here, never from conftest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import func, select

from maildesk.app import App
from maildesk.store.models import Outbox

SUPPORT = "customerservice@support.example"
CUSTOMER = "ana@acme.example"  # ACME's first contact in REGISTRY

#: The PostgreSQL server the database tests also run on (unset: SQLite only).
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

AGENTS = [
    {"email": "agente1@support.example", "name": "Agente Uno", "skills": ["soporte", "error"]},
    {
        "email": "agente2@support.example",
        "name": "Agente Dos",
        "skills": ["soporte", "nuevo_requerimiento", "actividad"],
    },
]

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


def count(app: App, model: Any) -> int:
    """How many rows a model's table holds."""
    with app.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def wait_until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `cond` until it returns something true, and return that; fail the test naming
    `what` after `timeout` seconds. For what another thread or process does."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
