"""SPEC §10 Files (issue 10 finding 5): the database holds every mail and the Message-ID
signing key, the outbox every answer; whatever the umask, maildesk creates them 0600 (and
its directories 0700)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.outbound.sender import flush
from maildesk.pipeline.accept import accept
from maildesk.registry import import_registry_file
from maildesk.store.db import sqlite_file
from tests.helpers import NOW, make_mail


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask: without care, files come out world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_i10_database_wal_and_shm_created_0600(
    open_umask: None, make_app: Any, registry_file: Path, db_url: str
) -> None:
    file = sqlite_file(db_url)
    if file is None:
        pytest.skip("PostgreSQL keeps no file of ours")
    app = make_app()
    import_registry_file(app.db, registry_file)
    accept(app, make_mail(), "t", NOW)
    with app.db.engine.connect():  # a connection open: -wal and -shm exist
        files = [file, Path(f"{file}-wal"), Path(f"{file}-shm")]
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_i10_outbox_maildir_files_0600_directories_0700(
    open_umask: None, make_app: Any, registry_file: Path, tmp_path: Path
) -> None:
    app = make_app()
    import_registry_file(app.db, registry_file)
    accept(app, make_mail(), "t", NOW)
    assert flush(app, NOW).sent >= 1
    box = tmp_path / "outbox"
    files = list((box / "new").iterdir())
    assert files and {_mode(f) for f in files} == {0o600}
    assert {_mode(d) for d in (box, box / "new", box / "tmp", box / "cur")} == {0o700}
