"""`maildesk db backup FILE` (issue 11, the service guide's backup step): SQLite's online
backup of a live database; PostgreSQL is pointed to pg_dump."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from maildesk.cli import main
from maildesk.pipeline.accept import accept
from maildesk.registry import import_registry_file
from maildesk.store.db import Database
from tests.helpers import make_mail


def _config(tmp_path: Path, url: str) -> str:
    cfg = tmp_path / "maildesk.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[inbound]\nmode = "none"\n')
    return str(cfg)


def test_db_backup_copies_a_live_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_app, registry_file, db_url: str
) -> None:
    if db_url.startswith("postgresql"):
        pytest.skip("the SQLite variant: PostgreSQL is backed up with pg_dump")
    url = db_url
    app = make_app()
    import_registry_file(app.db, registry_file)
    assert accept(app, make_mail(subject="antes del respaldo"), "test").ticket_number == 1
    # a writer keeps the database busy while the copy is taken
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            accept(app, make_mail(subject=f"durante {n}"), "test")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        out = tmp_path / "copy.db"
        code = main(["--config", _config(tmp_path, url), "db", "backup", str(out)])
    finally:
        stop.set()
        writer.join(30)
    assert code == 0, capsys.readouterr().err
    assert "quick_check ok" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    copy = sqlite3.connect(out)
    subjects = [r[0] for r in copy.execute("SELECT subject FROM tickets ORDER BY number")]
    copy.close()
    assert subjects[0] == "antes del respaldo"
    # a second backup to the same name is refused, never overwritten
    assert main(["--config", _config(tmp_path, url), "db", "backup", str(out)]) == 1
    assert "exists" in capsys.readouterr().err


def test_db_backup_of_postgresql_points_to_pg_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL variant: SQLite is the other test")
    db = Database(db_url)
    db.upgrade()
    db.dispose()
    code = main(["--config", _config(tmp_path, db_url), "db", "backup", str(tmp_path / "x")])
    assert code == 64 and "pg_dump --format=custom" in capsys.readouterr().err
