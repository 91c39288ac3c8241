"""Helpers for command-line tests: a config file pointing at the test database."""

from __future__ import annotations

from pathlib import Path


def write_config(tmp_path: Path, db_url: str, extra: str = "") -> Path:
    cfg = tmp_path / "maildesk.toml"
    cfg.write_text(
        f"""
[support]
address = "customerservice@support.example"
subject_prefix = "BITAM"
[database]
url = "{db_url}"
[inbound]
mode = "none"
[outbound]
mode = "maildir"
maildir = "{tmp_path / "outbox"}"
[[agents]]
email = "agente1@support.example"
name = "Agente Uno"
skills = ["soporte"]
{extra}
""",
        encoding="utf-8",
    )
    return cfg
