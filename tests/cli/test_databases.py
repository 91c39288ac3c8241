"""Issue 11 "No silent new database": only `run` and `db upgrade` may create a database;
every other command refuses, naming the database it looked for and how to point at the
right one; every command that writes names the database it wrote to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from maildesk.cli import main
from maildesk.store.db import describe
from tests.cli.helpers import write_config
from tests.helpers import REGISTRY, make_mail

EXE = Path(sys.executable).with_name("maildesk")

#: Every command that reads or writes an existing database, with its arguments.
NON_CREATING = [
    ("tickets", "list"),
    ("tickets", "show", "1"),
    ("registry", "import", "registry.toml"),
    ("ingest", "mail.eml"),
    ("timers", "run"),
    ("outbox", "flush"),
    ("quarantine", "list"),
    ("sla", "report"),
]


def _installed(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILDESK_CONFIG"}
    return subprocess.run(
        [str(EXE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("argv", NON_CREATING, ids=lambda a: " ".join(a[:2]))
def test_cli_in_a_folder_without_config_refuses_and_creates_nothing(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    (tmp_path / "registry.toml").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "mail.eml").write_bytes(make_mail())
    before = sorted(p.name for p in tmp_path.iterdir())
    res = _installed(tmp_path, *argv)
    assert res.returncode == 78, res.stderr
    assert f"no maildesk database at {tmp_path / 'maildesk.db'}" in res.stderr
    assert "no --config given" in res.stderr and "--config FILE" in res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_cli_db_upgrade_creates_and_names_the_database_then_others_use_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "registry.toml").write_text(REGISTRY, encoding="utf-8")
    res = _installed(tmp_path, "db", "upgrade")
    assert res.returncode == 0
    assert res.stdout.strip() == f"created database {tmp_path / 'maildesk.db'}"
    res = _installed(tmp_path, "db", "upgrade")
    assert res.stdout.strip() == f"database schema is up to date: {tmp_path / 'maildesk.db'}"
    res = _installed(tmp_path, "registry", "import", "registry.toml")
    assert res.returncode == 0
    assert res.stdout.splitlines()[-1] == f"database: {tmp_path / 'maildesk.db'}"


def test_cli_refusal_names_the_config_file_it_read(tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path}/elsewhere/maildesk.db")
    assert main(["--config", str(cfg), "tickets", "list"]) == 78
    err = capsys.readouterr().err
    assert f"no maildesk database at {tmp_path}/elsewhere/maildesk.db" in err
    assert f"database.url comes from {cfg}" in err
    assert not (tmp_path / "elsewhere").exists()


def test_cli_empty_database_is_refused_on_both_backends(db_url: str, tmp_path: Path, capsys):
    """An existing but empty database (a PostgreSQL schema with no tables) is not created
    by a command that only reads or writes: the schema stays empty."""
    cfg = write_config(tmp_path, db_url)
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail())
    assert main(["--config", str(cfg), "ingest", str(mail)]) == 78
    assert "no maildesk database at" in capsys.readouterr().err
    engine = create_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_cli_writing_commands_name_the_database(cli, db_url: str, tmp_path: Path) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail())
    shown = str(tmp_path / "maildesk.db") if db_url.startswith("sqlite") else "postgresql"
    for argv in (("ingest", str(mail)), ("outbox", "flush"), ("timers", "run")):
        code, out, _ = cli(*argv)
        last = out.splitlines()[-1]
        assert code == 0 and last.startswith("database: ") and shown in last, argv


def test_named_database_never_shows_a_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://maildesk:s3cret@db.example:5432/maildesk"
    assert describe(url) == "postgresql+psycopg://maildesk:***@db.example:5432/maildesk"
    assert describe("sqlite:///rel/x.db") == str(Path.cwd() / "rel" / "x.db")


def test_a_database_migrated_by_a_newer_maildesk_is_refused_without_traceback(
    cli, db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import text

    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    code, _, err = cli("tickets", "list")
    assert code == 78 and "schema revision 9999, newer than this maildesk knows" in err
    assert "Traceback" not in err
