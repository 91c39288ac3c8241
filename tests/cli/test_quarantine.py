"""Issue 11 "quarantine list|show|export|replay|discard": a header row, an unknown id is an
error (exit 1), a replay that fails again updates its entry instead of adding one; nothing
deletes mail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from maildesk.app import App
from maildesk.config import load_config
from maildesk.pipeline.quarantine import quarantine
from maildesk.store.models import Quarantine
from tests.helpers import make_mail

EXE = Path(sys.executable).with_name("maildesk")
JUNK = b"\x00\x00\x00 not a mail"


@pytest.fixture
def held(cli, tmp_path: Path):
    """Entry 1: bytes that can never be parsed. Entry 2: a good mail that met a bug."""
    junk = tmp_path / "junk.eml"
    junk.write_bytes(JUNK)
    assert cli("ingest", str(junk))[0] == 65
    cfg = tmp_path / "maildesk.toml"
    app = App(load_config(cfg))
    try:
        quarantine(
            app,
            make_mail(subject="Llegó durante el fallo"),
            "imap:INBOX:7",
            "boom\nRuntimeError: boom",
        )
    finally:
        app.db.dispose()
    return cli


def _entries(tmp_path: Path) -> int:
    app = App(load_config(tmp_path / "maildesk.toml"))
    try:
        with app.db.transaction() as s:
            return s.scalar(select(func.count(Quarantine.id)))
    finally:
        app.db.dispose()


def test_quarantine_list_has_a_header_row_and_states(held) -> None:
    code, out, _ = held("quarantine", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["ID", "RECEIVED"]
    assert "STATE" in lines[0] and "ERROR" in lines[0]
    assert lines[1].split()[0] == "1" and "waiting" in lines[1] and "unparseable" in lines[1]
    assert "RuntimeError: boom" in lines[2]
    assert lines[-1].startswith("(2 in quarantine, 2 waiting for a replay; times in ")
    rows = json.loads(held("quarantine", "list", "--json")[1])
    assert [r["state"] for r in rows] == ["waiting", "waiting"]


def test_quarantine_show_prints_headers_and_whole_error(held) -> None:
    code, out, _ = held("quarantine", "show", "2")
    assert code == 0 and out.startswith("quarantine entry 2: waiting")
    assert "subject      Llegó durante el fallo" in out
    assert "from         ana@acme.example" in out
    assert "  boom\n  RuntimeError: boom" in out


@pytest.mark.parametrize("action", ["show", "export", "replay", "discard"])
def test_quarantine_unknown_id_is_an_error(held, action: str) -> None:
    code, _, err = held("quarantine", action, "99")
    assert code == 1 and "no quarantine entry 99" in err


def test_quarantine_replay_that_fails_again_updates_its_entry(held, tmp_path: Path) -> None:
    code, out, _ = held("quarantine", "replay", "1")
    assert code == 1 and out.startswith("1: quarantined")
    assert _entries(tmp_path) == 2  # no third entry
    code, out, _ = held("quarantine", "replay", "1")
    assert _entries(tmp_path) == 2
    (entry,) = [r for r in json.loads(held("quarantine", "list", "--json")[1]) if r["id"] == 1]
    assert entry["state"] == "waiting" and entry["replay_outcome"].startswith("quarantined")
    assert "failed again" in held("quarantine", "list")[1].splitlines()[1]


def test_quarantine_replay_all_waiting_then_nothing_left(held) -> None:
    code, out, _ = held("quarantine", "replay")
    lines = out.splitlines()
    assert code == 1  # entry 1 failed again
    assert lines[0].startswith("1: quarantined") and lines[1].startswith("2: ticketed #1")
    assert "1 of 2 failed again" in out and lines[-1].startswith("database: ")
    held("quarantine", "discard", "1")
    code, out, _ = held("quarantine", "replay")
    assert code == 0 and out.splitlines()[0] == "nothing waiting for a replay"
    states = {r["id"]: r["state"] for r in json.loads(held("quarantine", "list", "--json")[1])}
    assert states == {1: "discarded", 2: "replayed"}


def test_quarantine_discard_keeps_the_mail(held, tmp_path: Path) -> None:
    code, out, _ = held("quarantine", "discard", "2")
    assert code == 0 and "discarded" in out
    target = tmp_path / "kept.eml"
    assert held("quarantine", "export", "2", "-o", str(target))[0] == 0
    assert b"Subject:" in target.read_bytes() and _entries(tmp_path) == 2


def test_quarantine_export_through_the_installed_command(held, tmp_path: Path) -> None:
    """The exact bytes to a pipe; never raw onto a terminal."""
    env = {k: v for k, v in os.environ.items() if k != "MAILDESK_CONFIG"}
    res = subprocess.run(
        [str(EXE), "--config", str(tmp_path / "maildesk.toml"), "quarantine", "export", "1"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0 and res.stdout == JUNK
    res = subprocess.run(
        [str(EXE), "--config", str(tmp_path / "maildesk.toml"), "quarantine", "show", "7"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1 and b"no quarantine entry 7" in res.stderr
