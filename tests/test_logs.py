"""Logs (issue 11): one prefix on every line, no library chatter at start, the first-run
migration in one line, and `[logging] format = "json"` for log shippers."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.logs import JsonFormatter, LineFormatter, under_journald
from tests.servers.dovecot import free_port

ROOT = Path(__file__).resolve().parent.parent
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\w+)\S*: "
)


def _config(tmp_path: Path, fmt: str | None) -> Path:
    cfg = tmp_path / "maildesk.toml"
    text = (
        f'[database]\nurl = "sqlite:///{tmp_path / "maildesk.db"}"\n'
        f'[inbound]\nmode = "smtp"\n[inbound.smtp]\nhost = "127.0.0.1"\nport = {free_port()}\n'
        f'[outbound]\nmode = "maildir"\nmaildir = "{tmp_path / "outbox"}"\n'
    )
    if fmt:
        text += f'[logging]\nformat = "{fmt}"\n'
    cfg.write_text(text)
    return cfg


def _run_until_started(tmp_path: Path, cfg: Path) -> str:
    """Start `maildesk run`, wait for its start line, SIGTERM it; its stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAILDESK_CONFIG", "JOURNAL_STREAM")}
    env["PYTHONPATH"] = str(ROOT)
    log = tmp_path / f"run-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "maildesk", "--config", str(cfg), "run"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "daemon started" not in log.read_text(errors="replace"):
                assert proc.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0, log.read_text(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return log.read_text(errors="replace")


def test_logs_start_has_no_alembic_chatter_and_first_run_migration_is_one_line(
    tmp_path: Path,
) -> None:
    cfg = _config(tmp_path, None)
    first = _run_until_started(tmp_path, cfg)
    lines = first.splitlines()
    assert all(TEXT_LINE.match(line) for line in lines), first
    # no library talking about its plumbing: Alembic, APScheduler, aiosmtpd's SMTP trace
    assert [TEXT_LINE.match(x).group(2) for x in lines] == ["maildesk"] * len(lines), first
    assert "Context impl" not in first and "Running upgrade" not in first
    created = [line for line in lines if "schema created" in line]
    assert len(created) == 1, first
    assert str(tmp_path / "maildesk.db") in created[0]
    # the second start finds the schema current: nothing to say about it
    second = _run_until_started(tmp_path, cfg)
    assert "schema" not in second and all(TEXT_LINE.match(x) for x in second.splitlines())


def test_logs_json_format_is_one_object_per_line(tmp_path: Path) -> None:
    out = _run_until_started(tmp_path, _config(tmp_path, "json"))
    entries = [json.loads(line) for line in out.splitlines()]
    assert entries and all(set(e) >= {"time", "level", "logger", "message"} for e in entries), out
    messages = [e["message"] for e in entries]
    assert any(m.startswith("daemon started") for m in messages)
    assert any("schema created" in m for m in messages)


@pytest.fixture
def record_with_traceback() -> Iterator[logging.LogRecord]:
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        yield logging.LogRecord(
            "maildesk.test", logging.ERROR, __file__, 1, "outbox: %s", ("failed",), sys.exc_info()
        )


def test_logs_every_line_of_a_traceback_carries_the_prefix(
    record_with_traceback: logging.LogRecord,
) -> None:
    text = LineFormatter().format(record_with_traceback)
    lines = text.splitlines()
    assert len(lines) > 4 and lines[0].endswith("ERROR maildesk.test: outbox: failed")
    assert all(TEXT_LINE.match(line) for line in lines), text
    assert any(line.endswith(": line two") for line in lines)


def test_logs_under_journald_prefix_is_the_syslog_priority_without_a_timestamp(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_with_traceback: logging.LogRecord,
) -> None:
    with open(tmp_path / "journal", "w") as stream:
        assert not under_journald(stream)
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert under_journald(stream)
        assert not under_journald(io.StringIO())
    lines = LineFormatter(journal=True).format(record_with_traceback).splitlines()
    assert all(line.startswith("<3>ERROR maildesk.test: ") for line in lines)


def test_logs_json_keeps_a_traceback_inside_its_one_line(
    record_with_traceback: logging.LogRecord,
) -> None:
    text = JsonFormatter().format(record_with_traceback)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["level"] == "error" and "line two" in entry["error"]
