"""The envelope sender of our mail (RFC 3834 §3.3, issue 10 finding 8): a signed return path
per outbox row, so bounces come back naming their row and nothing can loop. Real aiosmtpd
servers on both ends (the outbound sink, and maildesk's own listener for what comes back)."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from maildesk.app import App
from maildesk.channels.smtp_listener import ListenerThread
from maildesk.mail.verp import bounced_row, is_return_path, return_path
from maildesk.outbound.sender import flush
from maildesk.pipeline.accept import accept
from maildesk.registry import import_registry_file
from maildesk.store.models import Inbox
from tests.helpers import NOW, make_mail, outbox
from tests.servers.dovecot import free_port
from tests.servers.smtp_sink import SmtpSink

SUPPORT = "customerservice@support.example"
SECRET = b"k" * 32


@pytest.fixture
def smtp_app(make_app: Callable[..., App], registry_file: Any, smtp_sink: SmtpSink) -> App:
    app = make_app(outbound=smtp_sink.outbound())
    import_registry_file(app.db, registry_file)
    return app


def test_i10_automatic_mail_goes_out_with_a_signed_return_path_per_row(
    smtp_app: App, smtp_sink: SmtpSink
) -> None:
    accept(smtp_app, make_mail(), "imap:t/INBOX/1:1", NOW)  # acknowledgement + notifications
    rows = {r.message_id: r.id for r in outbox(smtp_app)}
    assert flush(smtp_app).sent == len(rows) >= 2
    for got in smtp_sink.wait_for(len(rows)):
        row_id = rows[got.message["Message-ID"].strip("<>")]
        assert got.mail_from != SUPPORT
        assert got.mail_from == return_path(smtp_app.secret, SUPPORT, row_id)
        assert bounced_row(smtp_app.secret, SUPPORT, got.mail_from) == row_id


@pytest.fixture
def listener(smtp_app: App) -> Iterator[ListenerThread]:
    lt = ListenerThread(smtp_app, "smtp", "127.0.0.1", free_port())
    lt.start()
    yield lt
    lt.stop()


def test_i10_out_of_office_sent_to_the_return_path_is_never_answered(
    smtp_app: App, smtp_sink: SmtpSink, listener: ListenerThread
) -> None:
    """RFC 3834 robots answer the return path: what comes back there must not loop."""
    accept(smtp_app, make_mail(), "imap:t/INBOX/1:1", NOW)
    flush(smtp_app)
    ack = next(m for m in smtp_sink.messages if m.rcpt_tos == ["ana@acme.example"])
    before = len(outbox(smtp_app))
    vacation = make_mail(
        to=ack.mail_from,
        subject="Fuera de la oficina: Re: [BITAM #1] El reporte de ventas no carga",
        body="Estoy de vacaciones hasta el lunes.\n",
        headers={"Auto-Submitted": "auto-replied"},
        message_id="<vacation1@acme.example>",
    )
    with smtplib.SMTP(listener.host, listener.port, timeout=30) as c:
        c.sendmail("ana@acme.example", [ack.mail_from], vacation)
    assert len(outbox(smtp_app)) == before  # recorded, never answered
    with smtp_app.db.transaction() as s:
        row = s.scalars(select(Inbox).where(Inbox.message_id == "vacation1@acme.example")).one()
    assert row.outcome in ("ignored", "followed_up") and "automatic" in row.reason


@given(st.integers(min_value=1, max_value=10**12))
def test_i10_return_path_round_trips_and_resists_forgery(row_id: int) -> None:
    address = return_path(SECRET, SUPPORT, row_id)
    assert bounced_row(SECRET, SUPPORT, address) == row_id
    assert bounced_row(SECRET, SUPPORT, address.upper()) == row_id
    assert bounced_row(b"another key", SUPPORT, address) is None
    forged = address.replace(f"-{row_id}-", f"-{row_id + 1}-")
    assert bounced_row(SECRET, SUPPORT, forged) is None
    assert bounced_row(SECRET, SUPPORT, SUPPORT) is None
    # the shape, signed or not, says "a robot's mail" (classify); only the MAC names a row
    assert is_return_path(SUPPORT, address) and is_return_path(SUPPORT, forged)
    assert not is_return_path(SUPPORT, SUPPORT)
    assert not is_return_path(SUPPORT, f"customerservice+{row_id}@support.example")
