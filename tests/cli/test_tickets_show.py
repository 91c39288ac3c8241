"""Issue 11 "tickets show" (dates for people, events in words, product with version,
delivery of each outgoing mail) and issue 10 (no terminal escapes from customer text)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import update

from maildesk.store.db import Database
from maildesk.store.models import Outbox
from tests.helpers import make_mail

ESC_SUBJECT = "=?utf-8?b?" + "RmFjdHVyYRtbMkogcm90YQ==" + "?="  # "Factura\x1b[2J rota"
HOSTILE_BODY = "Hola\x1b]0;pwned\x07 equipo\x9b31m, \u202eexe.txt\nsegunda línea\n"


def _ingest(cli, tmp_path: Path, name: str, raw: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(raw)
    code, out, err = cli("ingest", str(path))
    assert code == 0, err
    return out


def test_tickets_show_reads_as_words_in_the_support_language(cli, tmp_path: Path) -> None:
    _ingest(cli, tmp_path, "m.eml", make_mail(subject="No timbra la factura"))
    assert cli("outbox", "flush")[0] == 0
    code, out, _ = cli("tickets", "show", "1")
    assert code == 0
    assert out.splitlines()[0] == "[BITAM #1] No timbra la factura"
    fields = dict(re.findall(r"^  (\S[^ ]*(?: [^ ]+)*?)  +(.+)$", out, re.M))
    assert fields["Estado"] == "abierto"
    assert fields["Producto"] == "bFiskur 5.2"
    assert fields["Solicitante"] == "Ana Pérez <ana@acme.example>"
    assert fields["Cliente"] == "ACME S.A. de C.V. (acme)"
    # SPEC §10: "miércoles 25 de noviembre de 2026, 10:00 h (hora del centro)", no seconds
    assert re.fullmatch(
        r"\w+ \d+ de \w+ de 20\d\d, \d+:\d\d h \(hora del centro\)", fields["Creado"]
    ), fields["Creado"]
    assert "T" not in fields["Creado"] and "+00:00" not in out
    assert "ana@acme.example abrió el ticket" in out
    assert "entregado el " in out  # the acknowledgement went out (maildir)
    assert "{" not in out.split("Historia")[1]  # events in words, not JSON
    assert not re.search(r"\b[PRT]\d+\b", out)  # no rule codes


def test_tickets_show_tells_a_mail_waiting_and_one_that_failed(
    cli, db_url: str, tmp_path: Path
) -> None:
    _ingest(cli, tmp_path, "m.eml", make_mail())
    assert "por enviar" in cli("tickets", "show", "1")[1]
    db = Database(db_url)
    try:
        with db.transaction() as s:
            error = "550 5.1.1 no such user"
            s.execute(update(Outbox).values(state="failed", attempts=8, last_error=error))
    finally:
        db.dispose()
    out = cli("tickets", "show", "1")[1]
    assert "NO ENTREGADO tras 8 intentos: 550 5.1.1 no such user" in out
    detail = json.loads(cli("tickets", "show", "1", "--json")[1])
    out_msgs = [m for m in detail["messages"] if m["direction"] == "out"]
    assert out_msgs and all(m["delivery"]["state"] == "failed" for m in out_msgs)


def test_issue10_customer_text_cannot_drive_the_terminal(cli, tmp_path: Path) -> None:
    """An ESC, a BEL, a C1 CSI or a right-to-left override in a subject, a body or a file
    name reaches the screen as a visible escape, never as the character itself."""
    raw = make_mail(
        subject="placeholder",
        body=HOSTILE_BODY,
        attachments=[("fact\x1b[8mura\u202e.pdf", "application/pdf", b"%PDF-1.4")],
    ).replace(b"Subject: placeholder", f"Subject: {ESC_SUBJECT}".encode())
    _ingest(cli, tmp_path, "m.eml", raw)
    for argv in (("tickets", "show", "1"), ("tickets", "list"), ("tickets", "list", "--json")):
        out = cli(*argv)[1]
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out), argv
    shown = cli("tickets", "show", "1")[1]
    assert "Hola\\x1b]0;pwned\\x07 equipo\\x9b31m, \\u202eexe.txt" in shown
    assert "segunda línea" in shown  # newlines of a body stay lines
    data = json.loads(cli("tickets", "show", "1", "--json")[1])
    assert data["messages"][0]["body"].startswith("Hola\x1b]0;pwned\x07")  # JSON keeps data
