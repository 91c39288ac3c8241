"""Config (SPEC §6): file lookup order, embedded defaults, strict validation."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from maildesk.config import Config, config_from_dict, load_config
from maildesk.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_embedded_defaults_when_no_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    cfg = load_config()
    assert cfg.database.url == "sqlite:///./maildesk.db"
    assert (cfg.inbound.mode, cfg.inbound.smtp.host, cfg.inbound.smtp.port) == (
        "smtp",
        "127.0.0.1",
        8025,
    )
    assert cfg.outbound.mode == "maildir" and cfg.outbound.maildir == "./outbox"
    assert cfg.support.address == "customerservice@localhost"
    assert cfg.sla_hours["soporte"] == [4.0, 16.0, 40.0, 80.0]  # P8 defaults
    assert cfg.calendar.timezone == "America/Mexico_City"  # P9
    assert cfg.require_authenticated_agents is False


def test_lookup_env_then_local_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "maildesk.toml").write_text('[support]\nsubject_prefix = "LOCAL"\n')
    other = tmp_path / "env.toml"
    other.write_text('[support]\nsubject_prefix = "ENV"\n')
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    assert load_config().support.subject_prefix == "LOCAL"
    monkeypatch.setenv("MAILDESK_CONFIG", str(other))
    assert load_config().support.subject_prefix == "ENV"
    assert load_config(tmp_path / "maildesk.toml").support.subject_prefix == "LOCAL"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"suport": {}}, "unknown key 'suport'"),
        ({"support": {"adress": "x"}}, "unknown key [support] 'adress'"),
        ({"limits": {"max_message_bytes": "big"}}, "limits.max_message_bytes must be int"),
        ({"inbound": {"mode": "pop3"}}, "inbound.mode"),
        ({"sla": {"hours": {"soporte": [1, 2, 3]}}}, "sla.hours.soporte"),
        ({"sla": {"hours": {"magia": [1, 2, 3, 4]}}}, "sla.hours.magia: unknown type"),
        ({"calendar": {"timezone": "Mars/Olympus"}}, "[calendar]"),
        ({"calendar": {"open": "25:00"}}, "[calendar]"),
        ({"agents": [{"email": "a@b.example", "skills": ["magic"]}]}, "agents[0].skills"),
        ({"escalation": {"warn_at": 1.5}}, "escalation.warn_at"),
        (
            {"limits": {"attachments_per_mail_bytes": -1}},
            "limits.attachments_per_mail_bytes must be 0 or more",
        ),
        (
            {"inbound": {"mode": "imap", "imap": {"password_file": "/nonexistent/x"}}},
            "inbound.imap.password_file: no such file",
        ),
    ],
)
def test_config_errors_name_key_and_file(data, message) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, "/etc/maildesk/maildesk.toml")
    assert message in str(err.value) and "/etc/maildesk/maildesk.toml" in str(err.value)


def test_config_file_not_toml(tmp_path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text("[support\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def _keys(cls: type, prefix: str = "") -> set[str]:
    out = set()
    for f in dataclasses.fields(cls):
        if f.name in ("source", "base_dir", "credentials_dir", "sla", "agents"):
            continue
        t = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(t):
            out |= _keys(type(t), f"{prefix}{f.name}.")
        else:
            out.add(prefix + f.name)
    return out


def _flatten(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        if isinstance(v, dict) and k != "hours":
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out.add(prefix + k)
    return out


def test_example_config_documents_every_key_and_loads(tmp_path) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    documented = _flatten(data) | {"security.require_authenticated_agents"}
    missing = _keys(Config) - documented
    assert not missing, f"config.example.toml lacks {sorted(missing)}"
    secret = tmp_path / "pw"
    secret.write_text("pw")
    data["inbound"]["imap"]["password_file"] = str(secret)
    data["outbound"]["password_file"] = str(secret)
    cfg = config_from_dict(data, "config.example.toml")
    assert cfg.agents[0].email == "ana@example.com"
    assert cfg.require_authenticated_agents is False


def test_report_digest_must_be_a_cron_expression() -> None:
    with pytest.raises(ConfigError, match=r"report\.digest must be a cron expression"):
        config_from_dict({"report": {"digest": "every monday"}}, "maildesk.toml")
    assert config_from_dict({"report": {"digest": ""}}, "maildesk.toml").report.digest == ""
