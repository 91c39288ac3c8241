"""Issue 11 "tickets list": filters, full-text search kept in sync by the database, assignee
and age columns, and table / JSON / CSV output, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from maildesk.store.db import Database
from maildesk.store.models import Ticket
from maildesk.store.search import words
from tests.helpers import make_mail

MAILS = [
    ("ana@acme.example", "Facturación no timbra", "El módulo de facturación marca error 500."),
    ("luis@acme.example", "Reporte de ventas", "No carga el reporte mensual de ventas."),
    ("gina@globex.example", "Acceso bloqueado", "No puedo entrar: usuario bloqueado."),
]


@pytest.fixture
def listed(cli, db_url: str, tmp_path: Path):
    """Three tickets, then #2 made an urgent error of November, #3 unassigned."""
    for i, (sender, subject, body) in enumerate(MAILS):
        mail = tmp_path / f"m{i}.eml"
        mail.write_bytes(make_mail(sender=sender, subject=subject, body=body))
        assert cli("ingest", str(mail))[0] == 0
    db = Database(db_url)
    try:
        with db.transaction() as s:
            s.execute(
                update(Ticket)
                .where(Ticket.number == 2)
                .values(
                    type="error",
                    priority="urgente",
                    created_at=datetime(2026, 11, 10, 18, 0, tzinfo=UTC),
                )
            )
            s.execute(update(Ticket).where(Ticket.number == 3).values(assignee_id=None))
    finally:
        db.dispose()
    return cli


def numbers(cli, *argv: str) -> list[int]:
    code, out, err = cli("tickets", "list", "--format", "json", *argv)
    assert code == 0, err
    return [row["number"] for row in json.loads(out)]


def test_tickets_list_filters_each_narrow_the_list(listed) -> None:
    assert numbers(listed) == [1, 2, 3]
    assert numbers(listed, "--customer", "globex") == [3]
    assert numbers(listed, "--contact", "LUIS@acme.example") == [2]
    assert numbers(listed, "--type", "error") == [2]
    assert numbers(listed, "--priority", "urgente") == [2]
    assert numbers(listed, "--assignee", "none") == [3]
    assert numbers(listed, "--assignee", "agente1@support.example") == [1, 2]
    assert numbers(listed, "--assignee", "Agente Uno") == [1, 2]
    assert numbers(listed, "--state", "open", "--customer", "acme", "--type", "soporte") == [1]


def test_tickets_list_since_until_are_support_timezone_days(listed) -> None:
    # #2 was created 2026-11-10 18:00 UTC = 12:00 in Mexico City
    assert numbers(listed, "--since", "2026-11-10", "--until", "2026-11-10") == [2]
    assert numbers(listed, "--until", "2026-11-09") == []
    assert numbers(listed, "--since", "2026-11-10T12:01") == [1, 3]
    assert numbers(listed, "--since", "2026-11-10T18:00:00+00:00", "--until", "2026-11-10") == [2]


def test_tickets_list_search_full_text_subjects_and_bodies(listed) -> None:
    assert numbers(listed, "--search", "facturacion") == [1]  # accents folded
    assert numbers(listed, "--search", "MENSUAL ventas") == [2]  # every word, any case
    assert numbers(listed, "--search", "bloque*") == [3]  # prefix
    assert numbers(listed, "--search", "error 500") == [1]
    assert numbers(listed, "--search", "error entrar") == []  # words of different tickets
    assert numbers(listed, "--search", "no", "--customer", "globex") == [3]
    assert numbers(listed, "--search", "«»") == []  # no word at all: nothing matches


def test_tickets_list_search_sees_a_follow_up_in_the_same_transaction(listed, tmp_path) -> None:
    """The index is written by the database with the message row: a reply's words are
    found as soon as the reply is stored, with no code of ours in between."""
    out = listed("tickets", "show", "1", "--json")[1]
    first = json.loads(out)["messages"][0]["message_id"]
    reply = tmp_path / "reply.eml"
    body = "Sigue fallando con el CFDI 4.0"
    reply.write_bytes(make_mail(subject="Re: Facturación", body=body, in_reply_to=first))
    assert listed("ingest", str(reply))[1].startswith("followed_up #1")
    assert numbers(listed, "--search", "cfdi") == [1]


def test_tickets_list_csv_parses_back(listed) -> None:
    code, out, _ = listed("tickets", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["number"] for r in rows] == ["1", "2", "3"]
    code, js, _ = listed("tickets", "list", "--json")  # the alias stays
    for row, obj in zip(rows, json.loads(js), strict=True):
        assert row["subject"] == obj["subject"] and row["requester"] == obj["requester"]
        assert datetime.fromisoformat(row["created_at"]) == datetime.fromisoformat(
            obj["created_at"]
        )
        assert row["assignee"] == (obj["assignee"] or "")


def test_tickets_list_table_has_assignee_and_age_aligned(listed) -> None:
    code, out, _ = listed("tickets", "list")
    lines = out.splitlines()
    head, rows = lines[0], lines[1:-1]
    assert code == 0 and "ASSIGNEE" in head and "AGE" in head and lines[-1] == "(3 tickets)"
    subject_at = head.index("SUBJECT")
    assert [r[subject_at:] for r in rows] == [m[1] for m in MAILS]  # aligned, Unicode too
    assert "agente1@support.example" in rows[0] and rows[2].split()[6] == "-"
    assert all(r.split()[7].endswith(("m", "h", "d")) for r in rows)


def test_search_words_fold_like_the_index() -> None:
    assert words("Facturación  ERROR-500 bloq*") == [
        ("facturacion", False),
        ("error", False),
        ("500", False),
        ("bloq", True),
    ]
