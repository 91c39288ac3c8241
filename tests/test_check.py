"""`maildesk check` (issue 11): runnable against the service's configuration, every check
after a config error, exit 78 on config errors, messages in words, warnings for nobody to
escalate to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maildesk.cli import main
from maildesk.store.db import Database
from tests.servers.dovecot import Dovecot, free_port
from tests.servers.smtp_sink import SmtpSink

UNIT_CREDS = "/run/credentials/maildesk.service"


def _write(path: Path, sections: dict[str, dict]) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'maildesk.db'}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    return url


def _service_config(tmp_path: Path, imap_port: int, smtp_port: int) -> Path:
    """What systemd/README.md tells an operator to write: secrets under /run/credentials."""
    return _write(
        tmp_path / "maildesk.toml",
        {
            "support": {"address": "support@example.test"},
            "database": {"url": _database(tmp_path)},
            "inbound": {"mode": "imap"},
            "inbound.imap": {
                "host": "127.0.0.1", "port": imap_port, "ssl": False,
                "username": "support@example.test",
                "password_file": f"{UNIT_CREDS}/imap.secret",
            },
            "outbound": {"mode": "smtp", "host": "127.0.0.1", "port": smtp_port,
                         "starttls": False},
            "security": {"secret_file": f"{UNIT_CREDS}/hmac.secret"},
            "escalation": {"supervisors": ["jefe@example.test"]},
        },
    )  # fmt: skip


def _credentials(folder: Path, password: str) -> Path:
    folder.mkdir()
    (folder / "imap.secret").write_text(password + "\n")
    (folder / "hmac.secret").write_text("k" * 44 + "\n")
    return folder


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--config", *args[:1], "check", *args[1:]])
    return code, capsys.readouterr().out


def test_check_against_a_unit_style_credentials_folder_passes(
    tmp_path: Path,
    dovecot: Dovecot,
    smtp_sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = str(_service_config(tmp_path, dovecot.port, smtp_sink.port))
    creds = _credentials(tmp_path / "etc-maildesk", dovecot.password)
    # as the guide's first try did: the files exist only inside the service
    code, out = _check(capsys, cfg)
    assert code == 78, out
    assert f"{UNIT_CREDS}/imap.secret" in out and "--credentials-dir" in out
    # with the folder LoadCredential= copies them from
    code, out = _check(capsys, cfg, "--credentials-dir", str(creds))
    assert code == 0, out
    assert f"ok    secrets: inbound.imap.password_file: {creds}/imap.secret readable" in out
    assert "ok    imap: support@example.test@127.0.0.1" in out
    assert f"ok    smtp: 127.0.0.1:{smtp_sink.port}" in out
    # what systemd-run --pipe -p LoadCredential=... gives the command: another unit's folder
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    code, out = _check(capsys, cfg)
    assert code == 0, out


def test_check_runs_every_check_after_a_config_error_and_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write(
        tmp_path / "maildesk.toml",
        {
            "support": {"adress": "typo@example.test"},
            "database": {"url": _database(tmp_path)},
            "calendar": {"timezone": "Mars/Olympus"},
            "inbound": {"mode": "none"},
        },
    )
    code, out = _check(capsys, str(cfg))
    assert code == 78, out
    fails = [line for line in out.splitlines() if line.startswith("FAIL  config")]
    assert len(fails) == 2 and "'adress'" in fails[0] and "Mars/Olympus" in fails[1], out
    # the sections that are fine were still checked
    assert "ok    database" in out and "ok    templates" in out and "ok    outbound" in out


def test_check_messages_are_words_not_reprs_or_driver_tabs(
    tmp_path: Path, dovecot: Dovecot, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _service_config(tmp_path, dovecot.port, free_port())
    creds = _credentials(tmp_path / "creds", "wrong password")
    text = cfg.read_text().replace(
        f'url = "sqlite:///{tmp_path / "maildesk.db"}"',
        'url = "postgresql+psycopg://nobody@127.0.0.1:1/none"',
    )
    cfg.write_text(text)
    code, out = _check(capsys, str(cfg), "--credentials-dir", str(creds))
    assert code == 1, out
    failed = {line.split(":")[0][6:]: line for line in out.splitlines() if line.startswith("FAIL")}
    assert set(failed) == {"database", "imap", "smtp"}, out
    for line in failed.values():
        assert "b'" not in line and 'b"' not in line and "\t" not in line, line
    assert "authentication failed" in failed["imap"].lower()
    assert failed["smtp"].endswith("Connection refused")
    assert "127.0.0.1:1" in failed["database"] or "none" in failed["database"]


def test_check_names_a_missing_secret_file_and_warns_with_nobody_to_escalate_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = _write(
        tmp_path / "maildesk.toml",
        {
            "database": {"url": _database(tmp_path)},
            "inbound": {"mode": "none"},
            "security": {"secret_file": "secrets/hmac.secret"},
        },
    )
    code, out = _check(capsys, str(cfg))
    assert code == 1, out
    assert f"FAIL  secrets: security.secret_file: cannot read {tmp_path}/secrets/hmac.secret" in out
    assert "warn  agents: no [[agents]] configured" in out
    assert "warn  escalation: no escalation.supervisors configured" in out


@pytest.mark.parametrize(
    ("security", "warned"),
    [({"trusted_authserv_ids": ["mx.example.test"]}, True),
     ({"trusted_authserv_ids": ["mx.example.test"], "trusted_relays": ["127.0.0.1"]}, False)],
)  # fmt: skip
def test_check_warns_a_listener_without_trusted_relays_refuses_every_agent_mail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], security: dict, warned: bool
) -> None:
    """Issue 10: with the listener as the receiving hop nothing authenticates agents unless
    the MTA in front is named; `check` says so instead of letting every agent mail bounce."""
    cfg = _write(
        tmp_path / "maildesk.toml",
        {
            "database": {"url": _database(tmp_path)},
            "inbound": {"mode": "lmtp"},
            "security": security,
        },
    )
    _, out = _check(capsys, str(cfg))
    assert ("security: the lmtp listener has no security.trusted_relays" in out) is warned
