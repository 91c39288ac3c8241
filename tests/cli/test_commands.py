"""The command line of SPEC §6, driven the way operators and other programs drive it."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

from maildesk.cli import main
from tests.cli.helpers import write_config
from tests.helpers import REGISTRY, make_mail


def test_cli_ingest_file_then_tickets_list_and_show_json(cli, tmp_path: Path) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail(attachments=[("log.txt", "text/plain", b"line\n")]))
    code, out, _ = cli("ingest", str(mail))
    assert (code, out.splitlines()[0]) == (0, "ticketed #1: new topic")
    code, out, _ = cli("tickets", "list", "--json")
    (row,) = json.loads(out)
    for key in (
        "number",
        "subject",
        "state",
        "type",
        "priority",
        "customer",
        "requester",
        "created_at",
        "sla_due_at",
    ):
        assert key in row
    assert row["number"] == 1 and row["state"] == "open"
    code, out, _ = cli("tickets", "show", "1", "--json")
    t = json.loads(out)
    for key in (
        "number",
        "subject",
        "state",
        "type",
        "priority",
        "customer",
        "requester",
        "product",
        "assignee",
        "created_at",
        "sla_due_at",
        "resolved_at",
        "closed_at",
        "resolution_reason",
        "follows_up",
        "messages",
        "events",
    ):
        assert key in t, key
    m = t["messages"][0]
    assert set(m) >= {
        "direction",
        "kind",
        "from",
        "to",
        "subject",
        "message_id",
        "date",
        "body",
        "attachments",
    }
    assert m["attachments"][0]["filename"] == "log.txt"
    assert t["created_at"].endswith("-06:00")


def test_cli_ingest_stdin_and_duplicate_exit_zero(cli) -> None:
    raw = make_mail(message_id="<stdin-1@acme.example>")
    assert cli("ingest", "-", stdin=raw)[0] == 0
    code, out, _ = cli("ingest", stdin=raw)
    assert code == 0 and out.startswith("ignored: duplicate")


def test_cli_ingest_unregistered_exit_zero_rejected(cli, tmp_path: Path) -> None:
    mail = tmp_path / "x.eml"
    mail.write_bytes(make_mail(sender="nobody@else.example"))
    code, out, _ = cli("ingest", str(mail))
    assert code == 0 and out.startswith("rejected")


def test_cli_ingest_unparseable_exit_65_kept_in_quarantine(cli, tmp_path: Path) -> None:
    mail = tmp_path / "junk.eml"
    mail.write_bytes(b"\x00\x00\x00")
    assert cli("ingest", str(mail))[0] == 65
    code, out, _ = cli("quarantine", "list")
    assert code == 0 and "1 in quarantine" in out


def test_cli_ingest_database_unavailable_exit_75(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail())
    assert main(["--config", str(cfg), "ingest", str(mail)]) == 75


def test_cli_tickets_list_table_and_state_filter(cli, tmp_path: Path) -> None:
    for i in range(2):
        mail = tmp_path / f"m{i}.eml"
        mail.write_bytes(make_mail(subject=f"Problema número {i}"))
        cli("ingest", str(mail))
    code, out, _ = cli("tickets", "list")
    assert code == 0 and "Problema número 1" in out and "(2 tickets)" in out
    code, out, _ = cli("tickets", "list", "--state", "closed", "--json")
    assert json.loads(out) == []


def test_cli_tickets_show_missing_is_error(cli) -> None:
    assert cli("tickets", "show", "99")[0] == 1


def test_cli_outbox_flush_writes_maildir(cli, tmp_path: Path) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail())
    cli("ingest", str(mail))
    code, out, _ = cli("outbox", "flush")
    assert code == 0 and out.startswith("sent 2")
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    subjects = sorted(m["Subject"] for m in box)
    assert subjects[0].startswith("[BITAM #1]")
    assert cli("outbox", "flush")[1].startswith("sent 0")  # nothing twice


def test_cli_registry_error_exit_65_names_row(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(REGISTRY.replace("max_contacts = 3", "max_contacts = 1"), encoding="utf-8")
    code, _, err = cli("registry", "import", str(bad))
    assert code == 65 and "customers[0] (acme)" in err and "nothing changed" in err


def test_cli_registry_dry_run(cli, tmp_path: Path) -> None:
    changed = tmp_path / "c.toml"
    changed.write_text(REGISTRY.replace('name = "Globex"', 'name = "Globex 2"'), encoding="utf-8")
    code, out, _ = cli("registry", "import", "--dry-run", str(changed))
    assert code == 0 and "would be changed customer globex" in out
    assert cli("registry", "import", "--dry-run", str(changed))[1].splitlines()[0] == (
        "would be changed customer globex"
    )


def test_cli_config_typo_is_an_error_naming_key_and_file(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[support]\nadress = 'x@y.example'\n", encoding="utf-8")
    assert main(["--config", str(cfg), "tickets", "list"]) == 78
    err = capsys.readouterr().err
    assert "bad.toml" in err and "adress" in err


def test_cli_check_reports_each_part(cli, tmp_path: Path) -> None:
    code, out, _ = cli("check")
    assert code == 0
    assert "ok    config" in out and "ok    database" in out and "ok    templates" in out
    assert "warn  security" in out


def test_readme_flow_with_installed_command(tmp_path: Path) -> None:
    """A newcomer's path (README): db upgrade, registry import, pipe a mail, read the ack."""
    exe = Path(sys.executable).with_name("maildesk")
    env = {k: v for k, v in os.environ.items() if k != "MAILDESK_CONFIG"}
    (tmp_path / "registry.toml").write_text(REGISTRY, encoding="utf-8")

    def run(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(exe), *args],
            cwd=tmp_path,
            input=data,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )

    assert run("db", "upgrade").returncode == 0
    assert run("registry", "import", "registry.toml").returncode == 0
    mail = make_mail(to="customerservice@localhost")
    res = run("ingest", data=mail)
    assert res.returncode == 0, res.stderr
    assert run("outbox", "flush").returncode == 0
    files = list((tmp_path / "outbox" / "new").iterdir())
    acks = [f.read_bytes() for f in files if b"Auto-Submitted: auto-replied" in f.read_bytes()]
    assert len(acks) == 1 and b"[BITAM #1]" in acks[0]
    assert (tmp_path / "maildesk.db").exists()
